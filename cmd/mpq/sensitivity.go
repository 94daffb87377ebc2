package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"mpq/internal/config"
	"mpq/internal/quant"
	"mpq/internal/report"
	"mpq/search"
	"mpq/sensitivity"
	"mpq/store"
)

func newSensitivityCmd() *cobra.Command {
	var (
		cfgPath  string
		plotPath string
		asJSON   bool
		noCache  bool
		noPlot   bool
		methods  []string
	)
	cmd := &cobra.Command{
		Use:   "sensitivity -c CONFIG.yaml [--json] [--plot FILE.png] [--no-cache]",
		Short: "Measure each layer's sensitivity to quantization (Hessian trace, eigenvalue, Fisher, Ω table)",
		Long: `sensitivity computes the per-layer sensitivity table on the config's
sensitivity subset: the estimate of each layer's Hessian trace (HAWQ-v2)
and the Ω table that seeds the search, the top Hessian eigenvalue (eigen,
HAWQ-v1) and the empirical Fisher trace (fisher), and, when asked for,
measured one-layer-at-a-time quantization (perturbation). The config's
sensitivity.methods chooses (default hutchinson, eigen, fisher); --methods
overrides it for this run (a table computed with other methods is cached
under its own key, so the search does not reuse it).

Results are cached in the study storage under a key of the model, the
subset's contents and the settings: running it again, or starting the
search, reuses them. It prints a table (or JSON with --json) and draws a
bar chart, by default <study name>.sensitivity.png next to the config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if len(methods) > 0 {
				for _, m := range methods {
					if !slices.Contains(config.SensitivityMethods(), m) {
						return fmt.Errorf("sensitivity: --methods: unknown method %q (known: %s)", m, strings.Join(config.SensitivityMethods(), ", "))
					}
				}
				cfg.Sensitivity.Methods = methods
			}
			ws, err := search.OpenWorkspace(cfg)
			if err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			var st *store.Store
			if !noCache {
				dsn, err := storeDSN(cfg)
				if err == nil {
					st, err = store.Open(ctx, dsn)
				}
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					fmt.Fprintf(errOut, "sensitivity: caching is off: %v\n", err)
					st = nil
				} else {
					defer st.Close()
				}
			}
			prog := newProgressView(ctx, errOut)
			table, cached, err := search.RunSensitivity(ctx, ws, st, prog.update)
			prog.finish(err == nil || table != nil)
			if err != nil {
				if table == nil || !errors.Is(err, search.ErrSensitivityCache) {
					return err
				}
				fmt.Fprintf(errOut, "sensitivity: %v (the results are not cached)\n", err)
			}
			if !noPlot {
				if plotPath == "" {
					plotPath = filepath.Join(cfg.Dir, cfg.Study.Name+".sensitivity.png")
				}
				if err := report.SensitivityChart(table).Save(plotPath); err != nil {
					return fmt.Errorf("sensitivity: chart: %w", err)
				}
			} else {
				plotPath = ""
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if plotPath != "" {
					fmt.Fprintf(errOut, "sensitivity: chart written to %s\n", plotPath)
				}
				return writeSensitivityJSON(out, table, cached, plotPath)
			}
			if err := writeSensitivityTable(out, table, cached); err != nil {
				return err
			}
			if plotPath != "" {
				fmt.Fprintf(out, "chart: %s\n", plotPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&plotPath, "plot", "", "bar chart file, .png, .svg or .pdf (default <study name>.sensitivity.png next to the config)")
	cmd.Flags().BoolVar(&noPlot, "no-plot", false, "do not draw the bar chart")
	cmd.Flags().StringSliceVar(&methods, "methods", nil, "measures to compute, comma-separated: hutchinson, eigen, fisher, activation, perturbation (default: the config's sensitivity.methods)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "neither read nor write the study storage's cache")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// storeDSN returns the DSN store.Open expects for the config's storage: a
// sqlite path resolved against the config's folder (store.Open resolves
// relative paths against the working directory).
func storeDSN(cfg *config.Config) (string, error) {
	s, err := cfg.Storage()
	if err != nil {
		return "", err
	}
	if s.Driver == "sqlite" {
		return "sqlite://" + s.DSN, nil
	}
	return cfg.Study.Storage, nil
}

// progressView shows sensitivity progress on w: bars (mpb) on a terminal,
// otherwise a log line at most every logEvery and at each phase's end.
type progressView struct {
	w        io.Writer
	terminal bool
	p        *mpb.Progress

	mu    sync.Mutex // guards the fields below; held while calling mpb
	phase string
	bar   *mpb.Bar
	last  sensitivity.Progress
	said  time.Time
	// extra is the current bar's trailing text. mpb's render goroutine
	// reads it through a decorator while update may be blocked in a call to
	// mpb under mu, so it is atomic; each bar has its own, so finished bars
	// keep their last text.
	extra *atomic.Pointer[string]
}

const logEvery = 5 * time.Second

func newProgressView(ctx context.Context, w io.Writer) *progressView {
	v := &progressView{w: w, terminal: isTerminal(w)}
	if v.terminal {
		v.p = mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40))
	}
	return v
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// describe returns the progress line's detail and the unit counted.
func describe(p sensitivity.Progress) (unit, detail string) {
	switch p.Phase {
	case sensitivity.Hutchinson:
		return "sample", fmt.Sprintf("%d/%d layers done", p.Layer, p.Layers)
	case sensitivity.Eigen:
		return "iteration", fmt.Sprintf("layer %d/%d", min(p.Layer+1, p.Layers), p.Layers)
	case sensitivity.Perturbation:
		return "measurement", fmt.Sprintf("%d/%d layers done", p.Layer, p.Layers)
	}
	return "sample", ""
}

func (v *progressView) update(p sensitivity.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.terminal {
		_, detail := describe(p)
		eta := p.ETA().Round(time.Second)
		if p.Phase != v.phase {
			if v.bar != nil {
				v.bar.SetTotal(-1, true)
			}
			extra := new(atomic.Pointer[string])
			v.extra = extra
			v.bar = v.p.AddBar(int64(p.Samples),
				mpb.PrependDecorators(decor.Name(p.Phase, decor.WC{W: 13, C: decor.DindentRight}), decor.CountersNoUnit("%d/%d")),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
					if e := extra.Load(); e != nil {
						return *e
					}
					return ""
				})))
		}
		if eta > 0 {
			detail += fmt.Sprintf(", ETA %s", eta)
		}
		v.extra.Store(&detail)
		v.bar.SetTotal(int64(p.Samples), false)
		v.bar.SetCurrent(int64(p.Sample))
	} else {
		changed := p.Phase != v.phase
		if changed && v.phase != "" {
			v.logLine(v.last, true)
		}
		if changed || time.Since(v.said) >= logEvery {
			v.logLine(p, false)
		}
	}
	v.phase, v.last = p.Phase, p
}

// logLine writes one plain progress line (v.mu held).
func (v *progressView) logLine(p sensitivity.Progress, done bool) {
	unit, detail := describe(p)
	var b strings.Builder
	fmt.Fprintf(&b, "sensitivity: %s %s %d/%d", p.Phase, unit, p.Sample, p.Samples)
	if detail != "" {
		fmt.Fprintf(&b, ", %s", detail)
	}
	if done {
		fmt.Fprintf(&b, ", done in %s", p.Elapsed.Round(time.Millisecond))
	} else if eta := p.ETA(); eta > 0 {
		fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
	}
	fmt.Fprintln(v.w, b.String())
	v.said = time.Now()
}

// finish completes (ok) or aborts the bars and waits for them to render.
func (v *progressView) finish(ok bool) {
	v.mu.Lock()
	if !v.terminal {
		if v.phase != "" && ok {
			v.logLine(v.last, true)
		}
		v.mu.Unlock()
		return
	}
	if v.bar != nil {
		if ok {
			v.bar.SetTotal(-1, true)
		} else {
			v.bar.Abort(false)
		}
	}
	v.mu.Unlock()
	v.p.Wait()
}

// sensitivityLayerJSON is one layer of the JSON output; measures that were
// not computed are null.
type sensitivityLayerJSON struct {
	Name               string                           `json:"name"`
	Params             int                              `json:"params"`
	HessianTrace       *float64                         `json:"hessian_trace"`
	HessianTraceStderr *float64                         `json:"hessian_trace_stderr"`
	Samples            *int                             `json:"samples"`
	TopEigenvalue      *float64                         `json:"top_eigenvalue"`
	FisherTrace        *float64                         `json:"fisher_trace"`
	ActivationTrace    *float64                         `json:"activation_trace"`
	Omega              map[int]float64                  `json:"omega"`
	OmegaByQuantizer   map[quant.Method]map[int]float64 `json:"omega_by_quantizer,omitempty"`
	ActivationOmega    map[int]float64                  `json:"activation_omega,omitempty"`
	Perturbation       map[int]sensitivity.Perturb      `json:"perturbation,omitempty"`
	ActPerturbation    map[int]sensitivity.Perturb      `json:"activation_perturbation,omitempty"`
}

type sensitivityJSON struct {
	Layers         []sensitivityLayerJSON `json:"layers"`
	Methods        []string               `json:"methods"`
	Key            string                 `json:"key"`
	Cached         bool                   `json:"cached"`
	Subset         int                    `json:"subset"`
	Loss           float64                `json:"loss"`
	Accuracy       float64                `json:"accuracy"`
	ElapsedSeconds float64                `json:"elapsed_seconds"`
	PhaseSeconds   map[string]float64     `json:"phase_seconds,omitempty"`
	HVPStep        float64                `json:"hvp_step,omitempty"`
	Plot           string                 `json:"plot,omitempty"`
	Notes          []string               `json:"notes,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func sensitivityView(t *sensitivity.Table, cached bool, plot string) sensitivityJSON {
	out := sensitivityJSON{Methods: t.Settings.Methods, Key: t.Key, Cached: cached, Subset: t.Subset,
		Loss: t.Loss, Accuracy: t.Accuracy, ElapsedSeconds: t.Elapsed.Seconds(), HVPStep: t.Settings.HVPStep, Plot: plot, Notes: t.Notes}
	if len(t.PhaseTime) > 0 {
		out.PhaseSeconds = map[string]float64{}
		for k, d := range t.PhaseTime {
			out.PhaseSeconds[k] = d.Seconds()
		}
	}
	for _, r := range t.Layers {
		l := sensitivityLayerJSON{Name: r.Name, Params: r.Params, ActivationOmega: r.ActOmega,
			Perturbation: r.Perturbation, ActPerturbation: r.ActPerturbation}
		if t.Has(sensitivity.Hutchinson) {
			l.HessianTrace, l.HessianTraceStderr, l.Samples = ptr(r.HessianTrace), ptr(r.HessianTraceStderr), ptr(r.Samples)
			if qs := t.Settings.Quantizers; len(qs) > 0 {
				l.Omega = r.Omega[qs[0]]
			}
			if len(t.Settings.Quantizers) > 1 {
				l.OmegaByQuantizer = r.Omega
			}
		}
		if t.Has(sensitivity.Eigen) {
			l.TopEigenvalue = ptr(r.TopEigenvalue)
		}
		if t.Has(sensitivity.Fisher) {
			l.FisherTrace = ptr(r.FisherTrace)
		}
		if t.Has(sensitivity.Activation) {
			l.ActivationTrace = ptr(r.ActivationTrace)
		}
		out.Layers = append(out.Layers, l)
	}
	return out
}

func writeSensitivityJSON(w io.Writer, t *sensitivity.Table, cached bool, plot string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sensitivityView(t, cached, plot))
}

func writeSensitivityTable(w io.Writer, t *sensitivity.Table, cached bool) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	hut, eig, fis, act := t.Has(sensitivity.Hutchinson), t.Has(sensitivity.Eigen), t.Has(sensitivity.Fisher), t.Has(sensitivity.Activation)
	qs := t.Settings.Quantizers
	head := []string{"layer", "params"}
	if hut {
		head = append(head, "Hessian trace", "± stderr", "samples")
	}
	if eig {
		head = append(head, "top eigenvalue")
	}
	if fis {
		head = append(head, "Fisher trace")
	}
	if act {
		head = append(head, "act. trace")
	}
	if hut {
		for _, q := range qs {
			for _, b := range t.Settings.WeightBits {
				if len(qs) > 1 {
					head = append(head, fmt.Sprintf("Ω %s/%d", q, b))
				} else {
					head = append(head, fmt.Sprintf("Ω %d-bit", b))
				}
			}
		}
	}
	if act {
		for _, b := range t.Settings.ActivationBits {
			head = append(head, fmt.Sprintf("Ω act %d-bit", b))
		}
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	g := func(v float64) string { return fmt.Sprintf("%.4g", v) }
	for _, r := range t.Layers {
		row := []string{r.Name, fmt.Sprint(r.Params)}
		if hut {
			row = append(row, g(r.HessianTrace), g(r.HessianTraceStderr), fmt.Sprint(r.Samples))
		}
		if eig {
			row = append(row, g(r.TopEigenvalue))
		}
		if fis {
			row = append(row, g(r.FisherTrace))
		}
		if act {
			row = append(row, g(r.ActivationTrace))
		}
		if hut {
			for _, q := range qs {
				for _, b := range t.Settings.WeightBits {
					row = append(row, g(r.Omega[q][b]))
				}
			}
		}
		if act {
			for _, b := range t.Settings.ActivationBits {
				row = append(row, g(r.ActOmega[b]))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t.Has(sensitivity.Perturbation) {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "layer\tquantized\tbits\tΔloss\tΔaccuracy\tlogit SQNR dB\t")
		for _, r := range t.Layers {
			for _, part := range []struct {
				name string
				bits []int
				m    map[int]sensitivity.Perturb
			}{{"weights", t.Settings.WeightBits, r.Perturbation}, {"input", t.Settings.ActivationBits, r.ActPerturbation}} {
				for _, b := range part.bits {
					p := part.m[b]
					fmt.Fprintf(tw, "%s\t%s\t%d\t%+.4g\t%+.2f%%\t%.1f\t\n", r.Name, part.name, b, p.DLoss, 100*p.DAccuracy, p.SQNR)
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	how := fmt.Sprintf("computed in %s", t.Elapsed.Round(time.Millisecond))
	if cached {
		how = fmt.Sprintf("from the cache (computed in %s)", t.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\n%d samples, float loss %.4f, accuracy %.2f%%; %s\n", t.Subset, t.Loss, 100*t.Accuracy, how)
	if hut {
		fmt.Fprintf(w, "Ω(l, b) = |Tr(H_l)|/n_l · ‖Q_b(W_l) − W_l‖²; %d Hutchinson probes drawn (seed %d), finite-difference step η = %g\n",
			t.Probes, t.Settings.Seed, t.Settings.HVPStep)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}
