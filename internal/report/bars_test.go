package report

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chart BarChart
		want  string
	}{
		{"ok", BarChart{Categories: []string{"a", "b"}, Series: []Series{{"s", []float64{1, 2}}}}, ""},
		{"no categories", BarChart{Series: []Series{{"s", nil}}}, "no categories"},
		{"no series", BarChart{Categories: []string{"a"}}, "no series"},
		{"short series", BarChart{Categories: []string{"a", "b"}, Series: []Series{{"s", []float64{1}}}}, `series "s" has 1 values for 2 categories`},
		{"log without positives", BarChart{Log: true, Categories: []string{"a", "b"}, Series: []Series{{"s", []float64{0, -1}}}}, "positive value"},
		{"log with NaN and Inf only", BarChart{Log: true, Categories: []string{"a", "b"}, Series: []Series{{"s", []float64{math.NaN(), math.Inf(1)}}}}, "positive value"},
		{"log with one positive", BarChart{Log: true, Categories: []string{"a", "b"}, Series: []Series{{"s", []float64{0, 3e-7}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.chart.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrChart) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrChart containing %q", err, tc.want)
			}
		})
	}
}

// TestRender draws log and linear charts with awkward values (zero,
// negative, NaN, a range of ten decades) and decodes the PNG.
func TestRender(t *testing.T) {
	cats := []string{"/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"}
	for _, tc := range []struct {
		name  string
		chart BarChart
	}{
		{"log", BarChart{Title: "t", Log: true, Categories: cats, Series: []Series{
			{"a", []float64{1e-6, 0, 3e3, math.NaN(), 2}}, {"b", []float64{-1, 1e-2, 1, 1, 1}}}}},
		{"log single value", BarChart{Log: true, Categories: cats[:1], Series: []Series{{"a", []float64{5}}}}},
		{"linear with negatives", BarChart{Categories: cats, Series: []Series{{"a", []float64{-2, 0, 3, 4, math.Inf(1)}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.chart.Render(&buf, "png"); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			w, h := tc.chart.Size()
			if got := img.Bounds().Dx(); math.Abs(float64(got)-w.Dots(96)) > 2 {
				t.Errorf("width %d px, want %.0f", got, w.Dots(96))
			}
			if got := img.Bounds().Dy(); math.Abs(float64(got)-h.Dots(96)) > 2 {
				t.Errorf("height %d px, want %.0f", got, h.Dots(96))
			}
		})
	}
}

func TestSave(t *testing.T) {
	c := BarChart{Log: true, Categories: []string{"a"}, Series: []Series{{"s", []float64{1}}}}
	dir := t.TempDir()
	for _, name := range []string{"c.png", "c.svg", "c.pdf"} {
		if err := c.Save(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"noext", "c.bmp2"} {
		if err := c.Save(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := c.Save(filepath.Join(dir, "missing", "c.png")); err == nil {
		t.Error("missing directory: no error")
	}
}
