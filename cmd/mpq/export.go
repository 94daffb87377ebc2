package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"mpq/internal/config"
	"mpq/internal/planfile"
	"mpq/search"
	"mpq/store"
)

func newExportCmd() *cobra.Command {
	var (
		cfgPath, format, outPath string
		pareto, all, best        bool
		maxSize, maxBops, minAcc float64
	)
	cmd := &cobra.Command{
		Use:   "export -c CONFIG.yaml [--pareto | --all] [--best] [--format yaml|json|csv] [-o FILE]",
		Short: "Export a study's Pareto-optimal (or all accepted) plans as YAML, JSON or CSV",
		Long: `export writes the plans of the config's study: by default (--pareto) the
non-dominated completed trials over the study's objectives, with --all
every completed trial within the study's constraints (one per distinct
plan). Pruned, failed and constraint-violating trials are never exported.
Plans are sorted by cost (the first cost objective, ties by the next).

The filters --max-size-bits, --max-bops and --min-accuracy (a fraction)
are applied before the front is taken; --best keeps the single most
accurate plan within them (ties: the cheapest).

The format follows -o's extension (.yaml, .yml, .json, .csv) unless
--format is given; without -o, YAML goes to standard output. A YAML or
JSON file is a plans file for ` + "`mpq eval -c CONFIG.yaml --plan FILE --trial N`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pareto && all {
				return fmt.Errorf("export: --pareto and --all exclude each other; give one")
			}
			if format == "" {
				format = planfile.YAML
				if outPath != "" {
					f, ok := planfile.FormatOf(outPath)
					if !ok {
						return fmt.Errorf("export: cannot tell the format from %q; name the file .yaml, .json or .csv, or give --format", outPath)
					}
					format = f
				}
			}
			format = strings.ToLower(format)
			if !slices.Contains(planfile.Formats(), format) {
				return fmt.Errorf("export: --format %q: use one of %s", format, strings.Join(planfile.Formats(), ", "))
			}
			opt := search.ExportOptions{All: all, Best: best}
			flags := cmd.Flags()
			for _, f := range []struct {
				name string
				v    float64
				dst  **float64
			}{{"max-size-bits", maxSize, &opt.MaxSizeBits}, {"max-bops", maxBops, &opt.MaxBops}, {"min-accuracy", minAcc, &opt.MinAccuracy}} {
				if flags.Changed(f.name) {
					v := f.v
					*f.dst = &v
				}
			}
			if opt.MinAccuracy != nil && *opt.MinAccuracy > 1 {
				return fmt.Errorf("export: --min-accuracy %g: accuracy is a fraction in [0, 1] (0.98 is 98 %%)", *opt.MinAccuracy)
			}
			ctx := cmd.Context()
			ws, st, err := openStudy(ctx, cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			set, err := search.ExportPlans(ctx, ws, st, opt)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := planfile.Write(&buf, set, format); err != nil {
				return err
			}
			if outPath == "" || outPath == "-" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(outPath, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d plans of study %s to %s\n", len(set.Plans), set.Study, outPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	f.BoolVar(&pareto, "pareto", false, "export the Pareto front (the default)")
	f.BoolVar(&all, "all", false, "export every accepted plan, not only the front")
	f.BoolVar(&best, "best", false, "export only the most accurate plan within the filters (ties: the cheapest)")
	f.StringVar(&format, "format", "", "yaml, json or csv (default: from -o's extension, else yaml)")
	f.StringVarP(&outPath, "output", "o", "", "output file (default: standard output)")
	f.Float64Var(&maxSize, "max-size-bits", 0, "keep plans of at most this many weight bits")
	f.Float64Var(&maxBops, "max-bops", 0, "keep plans of at most this many bit operations per sample")
	f.Float64Var(&minAcc, "min-accuracy", 0, "keep plans of at least this accuracy (a fraction, e.g. 0.98)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// openStudy loads the config at path, its model and data, and the existing
// study store (export and report read a study; they never create one).
func openStudy(ctx context.Context, path string) (*search.Workspace, *store.Store, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	ws, err := search.OpenWorkspace(cfg)
	if err != nil {
		return nil, nil, err
	}
	st, err := search.OpenStudyStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return ws, st, nil
}
