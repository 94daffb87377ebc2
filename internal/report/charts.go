package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is a chart's data that can be drawn: its gonum plot and the size
// that fits it.
type Chart interface {
	Plot() (*plot.Plot, error)
	Size() (w, h vg.Length)
}

// legendOutside is implemented by charts whose legend is drawn to the right
// of the plot area rather than over the data.
type legendOutside interface{ legendOutside() bool }

// RenderPNG draws c at its Size, 96 dots per inch, as a PNG image.
func RenderPNG(c Chart) ([]byte, error) {
	p, err := c.Plot()
	if err != nil {
		return nil, err
	}
	w, h := c.Size()
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(vgimg.DefaultDPI), vgimg.UseBackgroundColor(color.White))
	// A margin above the title.
	dc := draw.Crop(draw.New(img), 0, 0, 0, -vg.Points(6))
	if lo, ok := c.(legendOutside); ok && lo.legendOutside() {
		drawLegendRight(p, dc)
	} else {
		p.Draw(dc)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// drawLegendRight draws p with its legend in a column to the right of the
// plot, so that the legend never hides data.
func drawLegendRight(p *plot.Plot, dc draw.Canvas) {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Size = vg.Points(10)
	leg.Padding = vg.Points(3)
	pad := vg.Points(8)
	lw := leg.Rectangle(dc).Size().X + 2*pad
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	top := vg.Length(0)
	if p.Title.Text != "" {
		top = p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
	}
	leg.Draw(draw.Crop(dc, dc.Size().X-lw+pad, 0, 0, -top-pad))
}

// Point is one (x, y) datum.
type Point struct{ X, Y float64 }

// Mark is how a group of points is drawn.
type Mark int

// Marks of trial groups.
const (
	MarkSampler Mark = iota // blue circle
	MarkSeed                // orange triangle
	MarkRetry               // purple square
	MarkPruned              // grey cross
)

// PointGroup is one legend entry's points.
type PointGroup struct {
	Name   string
	Mark   Mark
	Hollow bool // outline only (trials that violate the constraints)
	Points []Point
}

// HLine is a horizontal reference line across the plot.
type HLine struct {
	Name   string
	Y      float64
	Dotted bool // dotted instead of dashed
}

// ScatterChart is the data of an accuracy-versus-cost chart: groups of
// trials, the Pareto front (drawn as rings joined by the staircase of the
// best accuracy reached at each cost) and horizontal reference lines.
type ScatterChart struct {
	Title, XLabel, YLabel string
	// YScale multiplies every Y value when drawn (100 shows fractions as
	// percentages); 0 means 1.
	YScale    float64
	Groups    []PointGroup
	Front     []Point
	FrontName string
	Lines     []HLine
	// YMin, when set, is the bottom of the Y axis (before YScale): points
	// below it are left out and counted in the legend.
	YMin *float64
}

func (c *ScatterChart) legendOutside() bool { return true }

// Size returns the drawing size: a 7×5 inch plot and a column for the
// legend.
func (c *ScatterChart) Size() (w, h vg.Length) { return 10.5 * vg.Inch, 5.5 * vg.Inch }

func (c *ScatterChart) yScale() float64 {
	if c.YScale == 0 {
		return 1
	}
	return c.YScale
}

func (c *ScatterChart) xys(pts []Point) plotter.XYs {
	out := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if finite(p.X) && finite(p.Y) {
			out = append(out, plotter.XY{X: p.X, Y: p.Y * c.yScale()})
		}
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

var (
	grey      = color.RGBA{140, 140, 140, 255}
	frontInk  = color.RGBA{0, 0, 0, 255}
	frontStep = color.RGBA{0, 158, 115, 255}
)

func glyphOf(m Mark, hollow bool) draw.GlyphStyle {
	g := draw.GlyphStyle{Radius: vg.Points(3.2)}
	switch m {
	case MarkSeed:
		g.Color, g.Shape, g.Radius = palette[1], draw.PyramidGlyph{}, vg.Points(4)
		if hollow {
			g.Shape = outline{'t', vg.Points(1.2)}
		}
	case MarkRetry:
		g.Color, g.Shape = palette[3], draw.BoxGlyph{}
		if hollow {
			g.Shape = outline{'s', vg.Points(1.2)}
		}
	case MarkPruned:
		g.Color, g.Shape, g.Radius = grey, draw.CrossGlyph{}, vg.Points(2.5)
	default:
		g.Color, g.Shape = palette[0], draw.CircleGlyph{}
		if hollow {
			g.Shape = outline{'o', vg.Points(1.2)}
		}
	}
	return g
}

// outline draws the outline of a circle ('o'), square ('s') or triangle
// ('t') with a line of the given width (gonum's hollow glyphs use 0.5 pt,
// too faint to read at a glance).
type outline struct {
	shape byte
	width vg.Length
}

// DrawGlyph implements draw.GlyphDrawer.
func (o outline) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: o.width})
	r := sty.Radius
	var p vg.Path
	switch o.shape {
	case 's':
		x := r * 0.85
		p.Move(vg.Point{X: pt.X - x, Y: pt.Y - x})
		p.Line(vg.Point{X: pt.X + x, Y: pt.Y - x})
		p.Line(vg.Point{X: pt.X + x, Y: pt.Y + x})
		p.Line(vg.Point{X: pt.X - x, Y: pt.Y + x})
	case 't':
		r *= 1.25
		p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
		p.Line(vg.Point{X: pt.X - r*0.866, Y: pt.Y - r*0.5})
		p.Line(vg.Point{X: pt.X + r*0.866, Y: pt.Y - r*0.5})
	default:
		p.Move(vg.Point{X: pt.X + r, Y: pt.Y})
		p.Arc(pt, r, 0, 2*math.Pi)
	}
	p.Close()
	c.Stroke(p)
}

// Plot builds the gonum plot of c.
func (c *ScatterChart) Plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(plotter.NewGrid())
	// Pruned trials first, so that they lie under the others.
	groups := slices.Clone(c.Groups)
	slices.SortStableFunc(groups, func(a, b PointGroup) int {
		return boolRank(b.Mark == MarkPruned) - boolRank(a.Mark == MarkPruned)
	})
	for _, g := range groups {
		xys := c.xys(g.Points)
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", g.Name, err)
		}
		s.GlyphStyle = glyphOf(g.Mark, g.Hollow)
		p.Add(s)
		name := fmt.Sprintf("%s (%d)", g.Name, len(xys))
		if c.YMin != nil {
			below := 0
			for _, q := range xys {
				if q.Y < *c.YMin*c.yScale() {
					below++
				}
			}
			if below > 0 {
				name = fmt.Sprintf("%s (%d, %d below the axis)", g.Name, len(xys), below)
			}
		}
		p.Legend.Add(name, s)
	}
	if front := c.xys(c.Front); len(front) > 0 {
		// The staircase of the best accuracy reached at each cost.
		slices.SortFunc(front, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
		stairs := make(plotter.XYs, 0, len(front))
		best := math.Inf(-1)
		for _, q := range front {
			best = math.Max(best, q.Y)
			stairs = append(stairs, plotter.XY{X: q.X, Y: best})
		}
		line, err := plotter.NewLine(stairs)
		if err != nil {
			return nil, fmt.Errorf("report: front: %w", err)
		}
		line.StepStyle = plotter.PostStep
		line.LineStyle = draw.LineStyle{Color: frontStep, Width: vg.Points(1.5)}
		rings, err := plotter.NewScatter(front)
		if err != nil {
			return nil, fmt.Errorf("report: front: %w", err)
		}
		rings.GlyphStyle = draw.GlyphStyle{Color: frontInk, Shape: outline{'o', vg.Points(1.4)}, Radius: vg.Points(6.5)}
		p.Add(line, rings)
		p.Legend.Add(fmt.Sprintf("%s (%d)", c.FrontName, len(front)), line, rings)
	}
	// Reference lines do not take part in the data range: widen the Y
	// range to show them.
	for _, l := range c.Lines {
		if !finite(l.Y) {
			continue
		}
		y := l.Y * c.yScale()
		f := plotter.NewFunction(func(float64) float64 { return y })
		f.LineStyle = draw.LineStyle{Color: color.RGBA{80, 80, 80, 255}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}
		if l.Dotted {
			f.LineStyle.Color = palette[5]
			f.LineStyle.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
		}
		p.Add(f)
		name := l.Name
		if c.YMin != nil && l.Y < *c.YMin {
			name += ", below the axis"
		}
		p.Legend.Add(name, f)
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, y), math.Max(p.Y.Max, y)
	}
	if c.YMin != nil {
		p.Y.Min = *c.YMin * c.yScale()
	}
	pad := (p.Y.Max - p.Y.Min) * 0.04
	if pad == 0 {
		pad = 1
	}
	if c.YMin == nil {
		p.Y.Min -= pad
	}
	p.Y.Max += pad
	p.X.Tick.Marker = trimTicks{}
	p.Y.Tick.Marker = trimTicks{}
	xpad := (p.X.Max - p.X.Min) * 0.03
	if xpad == 0 {
		xpad = 1
	}
	p.X.Min, p.X.Max = p.X.Min-xpad, p.X.Max+xpad
	return p, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LineChart is the data of a line over increasing X.
type LineChart struct {
	Title, XLabel, YLabel string
	Points                []Point
	// Step draws the value as holding until the next point.
	Step bool
}

// Size returns the drawing size.
func (c *LineChart) Size() (w, h vg.Length) { return 8 * vg.Inch, 4.5 * vg.Inch }

// Plot builds the gonum plot of c.
func (c *LineChart) Plot() (*plot.Plot, error) {
	var xys plotter.XYs
	for _, q := range c.Points {
		if finite(q.X) && finite(q.Y) {
			xys = append(xys, plotter.XY{X: q.X, Y: q.Y})
		}
	}
	if len(xys) == 0 {
		return nil, fmt.Errorf("%w: %q has no finite points", ErrChart, c.Title)
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(plotter.NewGrid())
	line, err := plotter.NewLine(xys)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: palette[0], Width: vg.Points(1.5)}
	if c.Step {
		line.StepStyle = plotter.PostStep
	}
	dots, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	dots.GlyphStyle = draw.GlyphStyle{Color: palette[0], Shape: draw.CircleGlyph{}, Radius: vg.Points(1.8)}
	p.Add(line, dots)
	p.Y.Min = math.Min(p.Y.Min, 0)
	p.Y.Max *= 1.05
	p.X.Tick.Marker = trimTicks{}
	p.Y.Tick.Marker = trimTicks{}
	return p, nil
}

// trimTicks are gonum's default ticks with labels of just enough decimals
// for the tick step ("75" rather than "75.00", "97.15" rather than the "97"
// gonum writes for a step of 0.05). Labels in exponent form are kept.
type trimTicks struct{}

// Ticks implements plot.Ticker.
func (trimTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	var major []int
	for i, t := range ts {
		if t.Label != "" {
			if strings.ContainsAny(t.Label, "eE") {
				return ts
			}
			major = append(major, i)
		}
	}
	if len(major) < 2 {
		return ts
	}
	step := math.Abs(ts[major[1]].Value - ts[major[0]].Value)
	for prec := 0; prec <= 12; prec++ {
		exact := true
		for _, i := range major {
			v := ts[i].Value
			r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', prec, 64), 64)
			if math.Abs(r-v) > step*1e-6 {
				exact = false
				break
			}
		}
		if exact {
			for _, i := range major {
				ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', prec, 64)
			}
			return ts
		}
	}
	return ts
}
