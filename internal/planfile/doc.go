// Package planfile is the file `mpq export` writes: a study's plans (the
// Pareto front, or every accepted plan) with their measured quality and cost
// and every layer's bitwidths, as YAML, JSON or CSV.
//
// # Shape
//
// YAML and JSON hold the same keys:
//
//	{"study": "lenet-mnist", "objectives": ["accuracy", "size_bits"],
//	 "plans": [{"trial": 12, "provenance": "seed", "accuracy": 0.9871,
//	            "loss": 0.0412, "size_bits": 183912, "bops": 2391040,
//	            "layers": {"/conv1/Conv": {"weight_bits": 8, "activation_bits": 8,
//	                                       "weight_quantizer": "uniform"}, ...}}]}
//
// This is exactly what evaluator.ParsePlan reads (`mpq eval --plan FILE
// --trial N`), so an exported plan re-evaluates as it was searched. Layers
// are written in the model's order, not sorted by name. Floating-point
// numbers are written in the shortest form that parses back to the same
// float64 (strconv's 'g' with precision −1), so accuracies round-trip
// exactly; size_bits and bops are integers.
//
// # CSV
//
// One row per plan: trial, provenance, accuracy, loss, size_bits, bops, then
// two numeric columns per layer, "<layer>.weight_bits" and
// "<layer>.activation_bits" (32 is float), and "<layer>.weight_quantizer"
// for the layers whose quantizer the study could choose (see
// Set.Model). Numeric columns rather than one "w4a8" string per layer,
// because a spreadsheet can then sort, filter, average and colour-scale the
// bitwidths directly.
package planfile
