package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"mpq/internal/config"
	"mpq/search"
)

func newSearchCmd() *cobra.Command {
	var (
		cfgPath string
		trials  int
		workers int
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "search -c CONFIG.yaml [--trials N] [--workers N]",
		Short: "Run or resume a mixed-precision search study",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ws, err := search.OpenWorkspace(cfg)
			if err != nil {
				return err
			}
			// Read the data before opening the study database: broken
			// inputs leave it untouched (and create no new one).
			if err := ws.LoadInputs(); err != nil {
				return err
			}
			st, err := search.OpenStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			errw := cmd.ErrOrStderr()
			rep := newReporter(errw)
			sum, err := search.Run(ctx, ws, st, search.Options{Trials: trials, Workers: workers, Force: force,
				Progress: rep.status, Log: func(s string) { rep.log(s) }})
			rep.close()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "study %s: %d completed trials (%d pruned), %d evaluated this run, %s\n",
				sum.Study, sum.Complete, sum.Pruned, sum.Evaluated, sum.Elapsed.Round(time.Millisecond))
			fmt.Fprintf(w, "fp32 accuracy %.4f; Pareto front (%d plans):\n", sum.Baseline.Accuracy, len(sum.Front))
			fmt.Fprintf(w, "%8s %10s %12s %14s %10s\n", "trial", "accuracy", "size_bits", "bops", "origin")
			for _, r := range sum.Front {
				fmt.Fprintf(w, "%8d %10.4f %12.0f %14.0f %10s\n", r.TrialNumber, r.Accuracy, r.SizeBits, r.BOPs, r.Provenance)
			}
			fmt.Fprintf(w, "export the plans with: mpq export -c %s\n", cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().IntVar(&trials, "trials", 0, "target number of completed trials (default: the config's search.trials)")
	cmd.Flags().IntVar(&workers, "workers", 0, "concurrent evaluations in this process (default: the config's search.workers)")
	cmd.Flags().BoolVar(&force, "force", false, "resume even if the config differs from the one the study was started with")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// reporter shows progress: a bar on a terminal, plain log lines otherwise.
type reporter struct {
	w     io.Writer
	tty   bool
	p     *mpb.Progress
	bar   *mpb.Bar
	phase string
	last  time.Time
	total int
	msg   string
}

func newReporter(w io.Writer) *reporter {
	r := &reporter{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			r.tty = true
		}
	}
	return r
}

func (r *reporter) log(s string) {
	if r.p != nil {
		fmt.Fprintln(r.p, s) // printed above the bar
		return
	}
	fmt.Fprintln(r.w, "mpq:", s)
}

func (r *reporter) status(s search.Status) {
	if s.Phase != r.phase {
		r.phase = s.Phase
		if s.Phase != "search" && s.Phase != "done" {
			r.log(s.Phase + "...")
		}
	}
	if s.Phase != "search" || s.Target == 0 {
		return
	}
	r.msg = fmt.Sprintf("pruned %d · front %d · HV %.4g", s.Pruned, s.Front, s.Hypervolume)
	if r.tty {
		if r.bar == nil {
			r.p = mpb.New(mpb.WithOutput(r.w), mpb.WithWidth(40))
			r.bar = r.p.AddBar(int64(s.Target),
				mpb.PrependDecorators(decor.Name("trials "), decor.CountersNoUnit("%d/%d")),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return r.msg }), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
		}
		r.bar.SetCurrent(int64(min(s.Complete+s.Pruned, s.Target)))
		return
	}
	done := s.Complete + s.Pruned
	if time.Since(r.last) > 2*time.Second || done >= s.Target {
		r.last = time.Now()
		eta := ""
		if done > 0 && done < s.Target {
			eta = fmt.Sprintf(", ETA %s", (s.Elapsed / time.Duration(done) * time.Duration(s.Target-done)).Round(time.Second))
		}
		fmt.Fprintf(r.w, "mpq: trials %d/%d, %s%s\n", done, s.Target, r.msg, eta)
	}
}

func (r *reporter) close() {
	if r.p != nil {
		if r.bar != nil && !r.bar.Completed() {
			r.bar.Abort(false)
		}
		r.p.Wait()
	}
}
