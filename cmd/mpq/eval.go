package main

import (
	"encoding/json"
	"fmt"

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
			out, err := search.EvaluatePlan(cmd.Context(), ws, plan)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "accuracy  %.4f (%d samples)\n", out.Accuracy, out.Samples)
			fmt.Fprintf(w, "loss      %.6f\n", out.Loss)
			fmt.Fprintf(w, "size      %d bits (%.2fx smaller than fp32, +%d bits of scales)\n", out.SizeBits, out.Compression, out.OverheadBits)
			fmt.Fprintf(w, "BOPs      %d per sample\n", out.BOPs)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().StringVar(&planPath, "plan", "", "bitwidth plan (YAML/JSON), or a plans file from `mpq export`")
	cmd.Flags().IntVar(&trial, "trial", -1, "with a plans file: the trial whose plan to evaluate")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
