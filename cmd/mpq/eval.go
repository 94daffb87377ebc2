package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/search"
)

func newEvalCmd() *cobra.Command {
	var (
		cfgPath  string
		planPath string
		trial    int
		asJSON   bool
		integer  bool
	)
	cmd := &cobra.Command{
		Use:   "eval -c CONFIG.yaml [--plan PLAN.yaml [--trial N]]",
		Short: "Evaluate the model in fp32, or under a bitwidth plan, on the configured evaluation split",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			ws, err := search.OpenWorkspace(cfg)
			if err != nil {
				return err
			}
			plan := evaluator.FloatPlan(ws.Model)
			if planPath != "" {
				if plan, err = evaluator.LoadPlan(planPath, ws.Model, trial); err != nil {
					return err
				}
			}
			var out search.PlanResult
			var intLayers []string
			if integer {
				out, intLayers, err = evalInteger(cmd.Context(), ws, plan)
			} else {
				out, err = search.EvaluatePlan(cmd.Context(), ws, plan)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if integer {
					return enc.Encode(struct {
						search.PlanResult
						IntegerLayers []string `json:"integer_layers"`
					}{out, intLayers})
				}
				return enc.Encode(out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "accuracy  %.4f (%d samples)\n", out.Accuracy, out.Samples)
			fmt.Fprintf(w, "loss      %.6f\n", out.Loss)
			fmt.Fprintf(w, "size      %d bits (%.2fx smaller than fp32, +%d bits of scales)\n", out.SizeBits, out.Compression, out.OverheadBits)
			fmt.Fprintf(w, "BOPs      %d per sample\n", out.BOPs)
			if integer {
				fmt.Fprintf(w, "integer   %d of %d layers: %s\n", len(intLayers), len(ws.Model.Layers), strings.Join(intLayers, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().StringVar(&planPath, "plan", "", "bitwidth plan (YAML/JSON), or a plans file from `mpq export`")
	cmd.Flags().IntVar(&trial, "trial", -1, "with a plans file: the trial whose plan to evaluate")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&integer, "integer", false, "compute the layers with uniform weights and inputs of at most 8 bits in integer arithmetic (int8 weights, uint8 inputs, int32 sums), as a deployment runtime does")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// evalInteger is search.EvaluatePlan with the evaluator computing every
// eligible layer in integer arithmetic (evaluator.WithIntegerArithmetic);
// it also returns the names of the layers that did.
func evalInteger(ctx context.Context, ws *search.Workspace, plan evaluator.Plan) (search.PlanResult, []string, error) {
	if err := plan.Validate(ws.Model); err != nil {
		return search.PlanResult{}, nil, err
	}
	var calib *evaluator.Calibration
	if slices.ContainsFunc(plan, func(s evaluator.LayerSpec) bool { return s.ActivationBits != evaluator.FloatBits }) {
		var err error
		if calib, err = ws.Calibrate(ctx); err != nil {
			return search.PlanResult{}, nil, err
		}
	}
	ev, err := ws.Evaluator(calib, nil)
	if err != nil {
		return search.PlanResult{}, nil, err
	}
	ev.SetIntegerArithmetic(true)
	r, err := ev.Evaluate(ctx, plan)
	if err != nil {
		return search.PlanResult{}, nil, err
	}
	names := []string{}
	for l, used := range ev.IntegerLayers() {
		if used {
			names = append(names, ws.Model.Layers[l].Name)
		}
	}
	c := evaluator.CostOf(ws.Model, plan)
	return search.PlanResult{Accuracy: r.Accuracy, Loss: r.Loss, SizeBits: c.SizeBits, BOPs: c.BOPs, Samples: r.Samples,
		OverheadBits: c.OverheadBits, Compression: c.Compression}, names, nil
}
