// Package evaluator scores a bitwidth plan: it calibrates activation ranges
// once, fake-quantizes weights and layer inputs as the plan says, runs the
// model on held-out data and reports accuracy, loss and cost (weight bits,
// BOPs). It never imports package sensitivity.
package evaluator
