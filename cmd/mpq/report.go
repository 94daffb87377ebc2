package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"mpq/internal/report"
	"mpq/search"
)

func newReportCmd() *cobra.Command {
	var cfgPath, outDir string
	cmd := &cobra.Command{
		Use:   "report -c CONFIG.yaml -o DIR",
		Short: "Draw a study's plots (PNG) and a self-contained index.html into a folder",
		Long: `report reads the config's study and writes into DIR:

  accuracy_vs_size.png   accuracy against weight size, every finished trial
  accuracy_vs_bops.png   accuracy against bit operations per sample
  sensitivity.png        per-layer Hessian and Fisher traces (if the study has a sensitivity table)
  bitwidths.png          per-layer bitwidths across the Pareto front
  hypervolume.png        hypervolume of the accepted plans after each trial
  index.html             all of them embedded, with the study summary and a table of the front

It evaluates nothing: it draws what the search stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ws, st, err := openStudy(ctx, cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			data, err := search.StudyReport(ctx, ws, st)
			if err != nil {
				return err
			}
			paths, err := report.WriteStudy(outDir, data)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "study %s: %d complete, %d pruned, %d failed trials; front of %d plans\n",
				data.Name, data.Complete, data.Pruned, data.Failed, len(data.Front))
			for _, p := range paths {
				fmt.Fprintln(w, "wrote", p)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "folder to write the report into (created if needed)")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
