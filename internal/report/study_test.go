package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mpq/internal/planfile"
	"mpq/sensitivity"
)

var keep = flag.String("keep", "", "write the test charts into this folder, to look at them")

// fakeStudy is a study of n layers with long, nested names, every kind of
// trial and a front that uses a non-uniform quantizer.
func fakeStudy(n int) *Study {
	s := &Study{Name: "fake", Storage: "sqlite:///tmp/x.db", Objectives: []string{"accuracy", "size_bits"},
		Constraints: []string{"accuracy at most 2 points below fp32"}, Evaluation: "split test, 1000 samples",
		Complete: 6, Pruned: 2, Failed: 1, Baseline: &Baseline{Accuracy: 0.98, Loss: 0.07, SizeBits: 32 * 1000 * int64(n), BOPs: 5e9}}
	floor := 0.96
	s.MinAccuracy = &floor
	for i := range n {
		s.Layers = append(s.Layers, fmt.Sprintf("/layer%d/block%d/conv%d/Conv", i/4, i%4, i))
	}
	s.Trials = []Trial{
		{Number: 0, Provenance: "seed", Accuracy: 0.979, SizeBits: 8000 * float64(n), BOPs: 2e9, Feasible: true},
		{Number: 1, Provenance: "seed", Accuracy: 0.12, SizeBits: 2000 * float64(n), BOPs: 2e8, Pruned: true, Samples: 250},
		{Number: 2, Provenance: "seed", Accuracy: 0.975, SizeBits: 4000 * float64(n), BOPs: 9e8, Feasible: true},
		{Number: 3, Provenance: "sampler", Accuracy: 0.95, SizeBits: 3000 * float64(n), BOPs: 6e8, Feasible: false},
		{Number: 4, Provenance: "sampler", Accuracy: 0.97, SizeBits: 3500 * float64(n), BOPs: 7e8, Feasible: true},
		{Number: 5, Provenance: "enqueued-retry", Accuracy: 0.972, SizeBits: 5000 * float64(n), BOPs: 1e9, Feasible: true},
		{Number: 6, Provenance: "sampler", Accuracy: 0.5, SizeBits: 2500 * float64(n), BOPs: 4e8, Pruned: true, Samples: 250},
		{Number: 7, Provenance: "sampler", Accuracy: 0.976, SizeBits: 3600 * float64(n), BOPs: 8e8, Feasible: true},
	}
	for _, tr := range []int{4, 7, 2, 0} {
		t := s.Trials[tr]
		p := planfile.Plan{Trial: tr, Provenance: t.Provenance, Accuracy: t.Accuracy, SizeBits: int64(t.SizeBits), BOPs: int64(t.BOPs)}
		for j, l := range s.Layers {
			bits := []int{2, 3, 4, 8}[(j+tr)%4]
			q := "uniform"
			if j == 1 && tr == 7 {
				q = "kmeans"
			}
			p.Layers = append(p.Layers, planfile.Layer{Name: l, WeightBits: bits, ActivationBits: 8 - 4*(j%2), WeightQuantizer: q})
		}
		s.Front = append(s.Front, p)
	}
	for i := range 8 {
		s.Hypervolume = append(s.Hypervolume, HVPoint{Trial: i, Value: 1000 * math.Sqrt(float64(i))})
	}
	s.HVReference = []float64{0, 8000 * float64(n) * 1.0001}
	s.HVBox = 8000 * float64(n) * 1.0001
	s.Sensitivity = &sensitivity.Table{Subset: 64, Settings: sensitivity.Settings{Methods: []string{sensitivity.Hutchinson, sensitivity.Fisher}}}
	for i, l := range s.Layers {
		s.Sensitivity.Layers = append(s.Sensitivity.Layers, sensitivity.LayerResult{Name: l, Params: 1000, HessianTrace: math.Pow(10, float64(i%5)), FisherTrace: math.Pow(10, float64(i%3))})
	}
	return s
}

func TestTradeoffChart(t *testing.T) {
	s := fakeStudy(3)
	c := s.TradeoffChart("size_bits")
	var names []string
	count := 0
	for _, g := range c.Groups {
		names = append(names, g.Name)
		count += len(g.Points)
	}
	want := []string{"seeded (sensitivity knapsack)", "sampler", "re-enqueued after a failure", "sampler, violates constraints", "pruned (accuracy on part of the data)"}
	if !slices.Equal(names, want) {
		t.Errorf("groups %q\nwant   %q", names, want)
	}
	if count != len(s.Trials) {
		t.Errorf("%d points for %d trials", count, len(s.Trials))
	}
	if len(c.Front) != 4 || c.Front[0].X != kib(float64(s.Front[0].SizeBits)) || !slices.IsSortedFunc(c.Front, func(a, b Point) int { return cmpFloat(a.X, b.X) }) {
		t.Errorf("front %v", c.Front)
	}
	if len(c.Lines) != 2 || c.Lines[0].Y != 0.98 || c.Lines[1].Y != 0.96 {
		t.Errorf("reference lines %+v", c.Lines)
	}
	// The axis zooms on the completed trials and the constraint: the
	// pruned 12 % and 50 % trials fall below it, the violating 95 % one not.
	if c.YMin == nil || *c.YMin <= 0.5 || *c.YMin > 0.95 {
		t.Errorf("YMin %v", c.YMin)
	}
	if !strings.Contains(c.XLabel, "KiB") || !strings.Contains(c.YLabel, "%") {
		t.Errorf("labels %q, %q", c.XLabel, c.YLabel)
	}
	b := s.TradeoffChart("bops")
	if !strings.Contains(b.XLabel, "billions") && !strings.Contains(b.XLabel, "millions") {
		t.Errorf("BOPs label %q", b.XLabel)
	}
}

func TestBitsChart(t *testing.T) {
	s := fakeStudy(5)
	c := s.BitsChart()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 4 || len(c.Columns) != 5 || c.Cells[1][1].Quantizer != "kmeans" {
		t.Errorf("rows %q, columns %q, cell %+v", c.Rows, c.Columns, c.Cells[1][1])
	}
	if !strings.HasPrefix(c.Rows[0], "#4 ") {
		t.Errorf("first row %q, want trial 4", c.Rows[0])
	}
	bad := &HeatmapChart{Columns: []string{"a"}, Rows: []string{"r"}, Cells: [][]Cell{{}, {}}}
	if err := bad.Validate(); !errors.Is(err, ErrChart) {
		t.Errorf("mismatched cells: %v", err)
	}
	if _, err := (&HeatmapChart{}).Plot(); !errors.Is(err, ErrChart) {
		t.Errorf("empty heatmap: %v", err)
	}
}

func TestShortNames(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"/conv1/Conv", "/fc1/Gemm", "fc3.weight"}, []string{"conv1", "fc1", "fc3.weight"}},
		{[]string{"/a/Conv", "/a/Gemm"}, []string{"/a/Conv", "/a/Gemm"}}, // would collide
		{[]string{"/layer1/layer1.0/downsample/downsample.0/Conv"}, []string{"…downsample/downsample.0"}},
		{[]string{"/Conv"}, []string{"Conv"}},
	} {
		if got := ShortNames(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ShortNames(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFigures draws every chart of small and wide studies and checks the
// images and the page.
func TestFigures(t *testing.T) {
	for _, n := range []int{3, 30} {
		t.Run(fmt.Sprint(n, " layers"), func(t *testing.T) {
			s := fakeStudy(n)
			figs, err := s.Figures()
			if err != nil {
				t.Fatal(err)
			}
			if len(figs) != 5 {
				t.Fatalf("%d figures, want 5", len(figs))
			}
			for _, f := range figs {
				img, err := png.Decode(bytes.NewReader(f.PNG))
				if err != nil {
					t.Fatalf("%s: %v", f.File, err)
				}
				if w := img.Bounds().Dx(); w < 500 || w > 4000 {
					t.Errorf("%s: %d px wide", f.File, w)
				}
				if *keep != "" {
					_ = os.MkdirAll(*keep, 0o755)
					_ = os.WriteFile(filepath.Join(*keep, fmt.Sprintf("%d-%s", n, f.File)), f.PNG, 0o644)
				}
			}
			var page bytes.Buffer
			if err := s.HTML(&page, figs); err != nil {
				t.Fatal(err)
			}
			html := page.String()
			for _, want := range []string{"mpq study <code>fake</code>", "1 failed", "kmeans", "98.00 %", "data:image/png;base64,"} {
				if !strings.Contains(html, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(html, "ZgotmplZ") {
				t.Error("the template rejected a value (ZgotmplZ)")
			}
		})
	}
}

// TestFiguresEmpty: a study without trials has no charts, and a loss-only
// hypervolume without a box is drawn raw.
func TestFiguresEmpty(t *testing.T) {
	figs, err := (&Study{Name: "empty"}).Figures()
	if err != nil || len(figs) != 0 {
		t.Fatalf("%d figures, %v", len(figs), err)
	}
	s := &Study{Name: "l", Objectives: []string{"loss", "bops"}, Hypervolume: []HVPoint{{0, 3}, {1, 5}}}
	c := s.HypervolumeChart()
	if c.Points[1].Y != 5 || !strings.Contains(c.YLabel, "loss × BOPs") {
		t.Errorf("%+v", c)
	}
}

func TestTrimTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{97.13, 97.31, []string{"97.15", "97.20", "97.25", "97.30"}}, // gonum: "97" four times
		{97.0, 97.3, []string{"97.0", "97.1", "97.2", "97.3"}},
		{50, 240, []string{"80", "160", "240"}},
		{0, 3e9, []string{"0", "1e+09", "2e+09", "3e+09"}},
	} {
		var got []string
		for _, tk := range (trimTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ticks of [%v, %v]: %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}
