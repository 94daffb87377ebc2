// Package search runs a mixed-precision study: it builds the search space
// from a config and the model's layer inventory, seeds it with the plans that
// the sensitivity table predicts to be Pareto-optimal (an exact multiple-choice
// knapsack), drives goptuna samplers (TPE, random, exhaustive and mpq's own
// multi-objective sampler), scores each trial with the evaluator and keeps the
// Pareto front. It owns orchestration only: numbers come from evaluator and
// sensitivity, persistence from store.
package search
