package report

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Figure is one rendered chart of a study report.
type Figure struct {
	File    string // PNG file name inside the report folder
	Caption string
	PNG     []byte
}

// chartFiles returns the file names Figures may use.
func chartFiles() []string {
	return []string{"accuracy_vs_size.png", "accuracy_vs_bops.png", "sensitivity.png", "bitwidths.png", "hypervolume.png"}
}

// Figures renders the study's charts: accuracy against size and against
// BOPs, the sensitivity bars (when the study has a table), the bitwidth
// heatmap of the front (when it has a front) and the hypervolume history
// (when it has one).
func (s *Study) Figures() ([]Figure, error) {
	type item struct {
		file, caption string
		chart         Chart
	}
	var items []item
	if len(s.Trials) > 0 {
		items = append(items,
			item{"accuracy_vs_size.png", "Accuracy against weight size for every finished trial. Colour and shape give the trial's origin; hollow markers violate the study's constraints; grey crosses were pruned (their accuracy is over part of the evaluation data only). Black rings mark the Pareto front, joined by the staircase of the best accuracy reached at each size.", s.TradeoffChart("size_bits")},
			item{"accuracy_vs_bops.png", "Accuracy against bit operations per sample (Σ MACs × weight bits × activation bits), same markers. The rings are the study's Pareto front; the staircase is the best accuracy among them at each BOP count.", s.TradeoffChart("bops")})
	}
	if c := s.StudySensitivityChart(); c != nil {
		items = append(items, item{"sensitivity.png", "Per-layer sensitivity from the study's stored sensitivity table: the Hessian trace (Hutchinson) and the empirical Fisher trace, each per weight, on a log scale. Taller bars are layers that lose more when quantized.", c})
	}
	if len(s.Front) > 0 {
		items = append(items, item{"bitwidths.png", "Bitwidths across the Pareto front: one row per front plan (smallest at the bottom), one column per layer. The colour is the weight bitwidth (darker is more bits, grey is float); the text gives weight (w) and activation (a) bits.", s.BitsChart()})
	}
	if len(s.Hypervolume) > 0 {
		items = append(items, item{"hypervolume.png", "Hypervolume of the accepted plans after each trial, against the search's reference point" + hvCaption(s) + ".", s.HypervolumeChart()})
	}
	out := make([]Figure, 0, len(items))
	for _, it := range items {
		png, err := RenderPNG(it.chart)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", it.file, err)
		}
		out = append(out, Figure{File: it.file, Caption: it.caption, PNG: png})
	}
	return out, nil
}

func hvCaption(s *Study) string {
	ref := make([]string, len(s.HVReference))
	for i, v := range s.HVReference {
		ref[i] = fmt.Sprintf("%s %.6g", s.Objectives[i], v)
	}
	out := " (" + strings.Join(ref, ", ") + "; accuracy negated)"
	if s.HVNote != "" {
		out += "; " + s.HVNote
	}
	return out
}

// WriteStudy writes the study's charts as PNG files and index.html, a page
// that shows them (embedded, so that the one file can be moved or mailed)
// with the study's summary and its Pareto front, into dir (created if
// needed). It returns the paths it wrote.
func WriteStudy(dir string, s *Study) ([]string, error) {
	figs, err := s.Figures()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	// Remove the charts an earlier report drew and this one does not (a
	// study that lost its sensitivity table), so the folder matches the page.
	for _, name := range chartFiles() {
		if !slices.ContainsFunc(figs, func(f Figure) bool { return f.File == name }) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("report: %w", err)
			}
		}
	}
	var paths []string
	for _, f := range figs {
		p := filepath.Join(dir, f.File)
		if err := os.WriteFile(p, f.PNG, 0o644); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		paths = append(paths, p)
	}
	var page bytes.Buffer
	if err := s.HTML(&page, figs); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "index.html")
	if err := os.WriteFile(p, page.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return append(paths, p), nil
}

// HTML writes the self-contained report page: the figures as data URIs.
func (s *Study) HTML(w io.Writer, figs []Figure) error {
	type fig struct {
		Src     template.URL
		File    string
		Caption string
	}
	type cell struct {
		Text, Title string
		Style       template.CSS
	}
	type row struct {
		Trial                       int
		Provenance                  string
		Accuracy, Loss, Size, Ratio string
		SizeBits, BOPs              int64
		Cells                       []cell
	}
	data := struct {
		S       *Study
		Figures []fig
		Short   []string
		Rows    []row
		Base    string
		Counts  string
	}{S: s, Short: ShortNames(s.Layers)}
	for _, f := range figs {
		data.Figures = append(data.Figures, fig{
			Src:  template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG)),
			File: f.File, Caption: f.Caption})
	}
	bc := s.BitsChart()
	colours := bitColours(bc.Cells)
	for i, p := range s.Front {
		r := row{Trial: p.Trial, Provenance: p.Provenance, Accuracy: fmt.Sprintf("%.2f", 100*p.Accuracy),
			Loss: fmt.Sprintf("%.4f", p.Loss), Size: fmt.Sprintf("%.1f", kib(float64(p.SizeBits))), SizeBits: p.SizeBits, BOPs: p.BOPs}
		if s.Baseline != nil && p.SizeBits > 0 {
			r.Ratio = fmt.Sprintf("%.1f×", float64(s.Baseline.SizeBits)/float64(p.SizeBits))
		}
		for j, c := range bc.Cells[i] {
			text := fmt.Sprintf("w%s a%s", bitsLabel(c.WeightBits), bitsLabel(c.ActivationBits))
			if c.Quantizer != "" && c.Quantizer != "uniform" {
				text += " " + c.Quantizer
			}
			fill := colours[c.WeightBits]
			ink := "#000"
			if luminance(fill) < 0.45 {
				ink = "#fff"
			}
			r.Cells = append(r.Cells, cell{Text: text, Title: s.Layers[j], Style: template.CSS(fmt.Sprintf("background:%s;color:%s", hex(fill), ink))})
		}
		data.Rows = append(data.Rows, r)
	}
	if b := s.Baseline; b != nil {
		data.Base = fmt.Sprintf("accuracy %.2f %%, loss %.4f, %.1f KiB of weights (%d bits), %d BOPs per sample", 100*b.Accuracy, b.Loss, kib(float64(b.SizeBits)), b.SizeBits, b.BOPs)
	}
	data.Counts = fmt.Sprintf("%d complete, %d pruned, %d failed", s.Complete, s.Pruned, s.Failed)
	if s.Running+s.Waiting > 0 {
		data.Counts += fmt.Sprintf(", %d running, %d waiting", s.Running, s.Waiting)
	}
	if err := pageTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("report: index.html: %w", err)
	}
	return nil
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mpq study {{.S.Name}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
td.l, th.l { text-align: left; }
table.summary th { text-align: left; }
.front { overflow-x: auto; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; max-width: 60em; }
</style>
</head>
<body>
<h1>mpq study <code>{{.S.Name}}</code></h1>
<table class="summary">
<tr><th>storage</th><td class="l"><code>{{.S.Storage}}</code></td></tr>
<tr><th>objectives</th><td class="l">{{range $i, $o := .S.Objectives}}{{if $i}}, {{end}}{{$o}}{{end}} (the first maximised if accuracy, the rest minimised)</td></tr>
<tr><th>constraints</th><td class="l">{{if .S.Constraints}}{{range $i, $c := .S.Constraints}}{{if $i}}; {{end}}{{$c}}{{end}}{{else}}none{{end}}</td></tr>
<tr><th>evaluation</th><td class="l">{{.S.Evaluation}}</td></tr>
<tr><th>trials</th><td class="l">{{.Counts}}</td></tr>
<tr><th>fp32 baseline</th><td class="l">{{if .Base}}{{.Base}}{{else}}not measured yet{{end}}</td></tr>
<tr><th>Pareto front</th><td class="l">{{len .S.Front}} plans</td></tr>
<tr><th>sensitivity</th><td class="l">{{if .S.Sensitivity}}stored table of {{len .S.Sensitivity.Layers}} layers on {{.S.Sensitivity.Subset}} samples{{else}}no table stored for this config's sensitivity settings (<code>mpq sensitivity -c CONFIG.yaml</code> computes one){{end}}</td></tr>
</table>

<h2>Pareto front</h2>
{{if .Rows}}<p>The non-dominated completed plans within the constraints, smallest first; export them with <code>mpq export</code>. Each layer cell gives its weight bits (w) and input-activation bits (a); hover for the full layer name.</p>
<div class="front"><table>
<tr><th>trial</th><th class="l">origin</th><th>accuracy (%)</th><th>loss</th><th>size (KiB)</th><th>size (bits)</th><th>vs fp32</th><th>BOPs</th>{{range $i, $n := .Short}}<th class="l" title="{{index $.S.Layers $i}}">{{$n}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Trial}}</td><td class="l">{{.Provenance}}</td><td>{{.Accuracy}}</td><td>{{.Loss}}</td><td>{{.Size}}</td><td>{{.SizeBits}}</td><td>{{.Ratio}}</td><td>{{.BOPs}}</td>{{range .Cells}}<td class="l" style="{{.Style}}" title="{{.Title}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table></div>
{{else}}<p>No completed trial satisfies the study's constraints yet.</p>{{end}}

<h2>Charts</h2>
{{range .Figures}}<figure>
<img src="{{.Src}}" alt="{{.File}}">
<figcaption>{{.Caption}} <span style="color:#999">({{.File}})</span></figcaption>
</figure>
{{else}}<p>The study has no finished trials to chart.</p>{{end}}
<p style="color:#999;font-size:0.8em">Written by mpq {{.S.Version}}.</p>
</body>
</html>
`))
