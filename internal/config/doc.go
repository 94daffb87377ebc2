// Package config reads, checks and fingerprints an mpq study config: one
// YAML file that names the model, the data splits, the subsets used for
// evaluation, calibration and sensitivity, where the study is stored, and
// the search space.
//
// # Example
//
//	model: ../testdata/models/lenet.onnx
//	data:
//	  train: {format: idx, images: ../testdata/mnist/train-images-idx3-ubyte.gz, labels: ../testdata/mnist/train-labels-idx1-ubyte.gz}
//	  test:  {format: idx, images: ../testdata/mnist/t10k-images-idx3-ubyte.gz, labels: ../testdata/mnist/t10k-labels-idx1-ubyte.gz}
//	  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
//	evaluation:  {split: test, count: 10000}
//	calibration: {split: train, count: 512, method: minmax}
//	sensitivity: {split: train, count: 1024, seed: 0}
//	study: {name: lenet-mnist, storage: sqlite://lenet.db}
//	search:
//	  weight_bits: [2, 3, 4, 8]
//	  activation_bits: [4, 8]
//	  objectives: [accuracy, size_bits]
//	  constraints: {max_accuracy_drop: 0.02}
//	  trials: 100
//	  seed: 1
//	  sampler: auto
//	  workers: 2
//	  layers: {conv1: {weight_bits: [8]}}
//	  weight_quantizers: [uniform]
//
// The shape of this file is a public contract: keys are added, never
// renamed. Only model and data (with the split that evaluation uses) are
// required; [Parse] documents the defaults of the rest.
//
// # Strictness
//
// Decoding is strict: an unknown key, a value of the wrong type and a key
// given twice are errors, and so is every value that [Config.Validate]
// rejects. Each problem is reported as "file:line: key.path: what is wrong
// and what to do", all problems of a file at once, in file order (YAML 1.2
// as implemented by go.yaml.in/yaml/v3, with its Decoder.KnownFields(true)
// as a second line of defence behind this package's own key check).
//
// # Paths
//
// Relative paths (the model, data files, a sqlite:// storage) are resolved
// against the folder of the config file, never the working directory, so a
// study runs the same from anywhere ([Config.Resolve]).
//
// # Fingerprint
//
// [Config.Hash] is the SHA-256 of the config re-marshalled in a canonical
// form with the defaults filled in: comments, key order, flow or block
// style, quoting and spelled-out defaults do not change it; any value does.
package config
