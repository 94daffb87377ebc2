// Package arch holds no code: its test checks that mpq's imports point one
// way, cmd → search → (sensitivity, evaluator) → (quant, engine) → (graph,
// kernel), with store used by search and cmd only, and gorm and goptuna
// confined to the packages that own them.
package arch
