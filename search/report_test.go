package search

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mpq/evaluator"
	"mpq/internal/pareto"
	"mpq/internal/report"
)

// TestStudyReport builds the report data of a real study, checks it against
// the store and the export, and writes the report.
func TestStudyReport(t *testing.T) {
	ws, st := exportStudy(t, "")
	ctx := context.Background()
	s, err := StudyReport(ctx, ws, st)
	if err != nil {
		t.Fatal(err)
	}
	if s.Complete+s.Pruned != 14 || s.Failed != 0 {
		t.Errorf("%d complete, %d pruned, %d failed; want 14 finished", s.Complete, s.Pruned, s.Failed)
	}
	if len(s.Trials) != s.Complete+s.Pruned {
		t.Errorf("%d trials with results, %d finished", len(s.Trials), s.Complete+s.Pruned)
	}
	fp := evaluator.CostOf(ws.Model, evaluator.FloatPlan(ws.Model))
	if s.Baseline == nil || s.Baseline.Accuracy <= 0 || s.Baseline.SizeBits != fp.SizeBits || s.Baseline.BOPs != fp.BOPs {
		t.Errorf("baseline %+v, want the fp32 result and cost", s.Baseline)
	}
	if s.Sensitivity == nil {
		t.Error("no sensitivity table, though the auto sampler stored one")
	}
	if !slices.Equal(s.Layers, ws.Model.LayerNames()) {
		t.Errorf("layers %v", s.Layers)
	}

	// The front is the export's, sorted by size.
	front, err := ExportPlans(ctx, ws, st, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []int
	for _, p := range s.Front {
		got = append(got, p.Trial)
	}
	for _, p := range front.Plans {
		want = append(want, p.Trial)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("report front %v, export front %v", got, want)
	}
	for i := 1; i < len(s.Front); i++ {
		if s.Front[i-1].SizeBits > s.Front[i].SizeBits {
			t.Errorf("front not sorted by size at %d", i)
		}
	}

	// One hypervolume per finished trial, never decreasing, ending at the
	// hypervolume of every accepted result against the search's reference.
	if len(s.Hypervolume) != len(s.Trials) {
		t.Fatalf("%d hypervolume points for %d trials", len(s.Hypervolume), len(s.Trials))
	}
	for i := 1; i < len(s.Hypervolume); i++ {
		if s.Hypervolume[i].Value < s.Hypervolume[i-1].Value || s.Hypervolume[i].Trial <= s.Hypervolume[i-1].Trial {
			t.Errorf("hypervolume history not increasing at %d: %+v", i, s.Hypervolume[i-1:i+1])
		}
	}
	d, err := loadStudyData(ctx, ws.Config, st)
	if err != nil {
		t.Fatal(err)
	}
	var pts [][]float64
	for _, r := range d.accepted() {
		pts = append(pts, d.vector(r))
	}
	sp, _ := NewSpace(ws.Model, ws.Config.Search)
	ref := newObjectives(ws.Config, 0, ws.Model, sp).reference()
	if !slices.Equal(s.HVReference, ref) {
		t.Errorf("reference %v, the search's %v", s.HVReference, ref)
	}
	if last, all := s.Hypervolume[len(s.Hypervolume)-1].Value, pareto.Hypervolume(pts, ref); last != all {
		t.Errorf("final hypervolume %v, of all accepted results %v", last, all)
	}

	dir := t.TempDir()
	paths, err := report.WriteStudy(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	wantNames := []string{"accuracy_vs_size.png", "accuracy_vs_bops.png", "sensitivity.png", "bitwidths.png", "hypervolume.png", "index.html"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("wrote %v, want %v", names, wantNames)
	}
	for _, p := range paths[:len(paths)-1] {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A chart from an earlier report that this one does not draw is removed.
	noSens := *s
	noSens.Sensitivity = nil
	if _, err := report.WriteStudy(dir, &noSens); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sensitivity.png")); !os.IsNotExist(err) {
		t.Errorf("sensitivity.png left from the earlier report: %v", err)
	}
	if _, err := report.WriteStudy(dir, s); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(paths[len(paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if n := strings.Count(html, `<img src="data:image/png;base64,`); n != 5 {
		t.Errorf("%d embedded images, want 5", n)
	}
	if refs := regexp.MustCompile(`(?:src|href)="(?:[^d]|d[^a])`).FindAllString(html, -1); len(refs) > 0 {
		t.Errorf("index.html refers to other files: %v", refs)
	}
	for _, want := range []string{s.Name, "accuracy, size_bits", "fp32 baseline", "pruned"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html does not mention %q", want)
		}
	}
	for _, l := range s.Layers {
		if !strings.Contains(html, `title="`+l+`"`) {
			t.Errorf("index.html has no column for layer %q", l)
		}
	}
}
