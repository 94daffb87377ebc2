package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrChart marks chart data that cannot be drawn.
var ErrChart = errors.New("report: invalid chart")

// BarChart is the data of a grouped bar chart: for each category (an X
// position) one bar per series.
type BarChart struct {
	Title  string
	XLabel string
	YLabel string
	// Categories label the groups along the X axis.
	Categories []string
	// Series are drawn side by side in each group, in order.
	Series []Series
	// Log selects a base-10 logarithmic value axis.
	Log bool
}

// Series is one named set of bar heights, one per category.
type Series struct {
	Name   string
	Values []float64
}

// Validate reports whether c can be drawn: at least one category, every
// series as long as the categories, and on a log axis at least one positive
// finite value.
func (c *BarChart) Validate() error {
	if len(c.Categories) == 0 {
		return fmt.Errorf("%w: no categories", ErrChart)
	}
	if len(c.Series) == 0 {
		return fmt.Errorf("%w: no series", ErrChart)
	}
	for _, s := range c.Series {
		if len(s.Values) != len(c.Categories) {
			return fmt.Errorf("%w: series %q has %d values for %d categories", ErrChart, s.Name, len(s.Values), len(c.Categories))
		}
	}
	if c.Log {
		if _, _, ok := c.positiveRange(); !ok {
			return fmt.Errorf("%w: a log axis needs a positive value, and no series has one", ErrChart)
		}
	}
	return nil
}

// positiveRange returns the smallest and largest positive finite value.
func (c *BarChart) positiveRange() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, v := range s.Values {
			if drawable(v, true) {
				lo, hi, ok = math.Min(lo, v), math.Max(hi, v), true
			}
		}
	}
	return lo, hi, ok
}

func drawable(v float64, log bool) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	return !log || v > 0
}

// palette holds the series colours (Okabe and Ito's colour-blind-safe set).
var palette = [...]color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{86, 180, 233, 255}, {213, 94, 0, 255}, {240, 228, 66, 255}, {0, 0, 0, 255},
}

// Plot builds the gonum plot of c.
func (c *BarChart) Plot() (*plot.Plot, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	groupWidth := vg.Points(40)
	barWidth := groupWidth / vg.Length(len(c.Series))
	if c.Log {
		lo, hi, _ := c.positiveRange()
		// Headroom above the tallest bar for the legend.
		lo, hi = lo/2, hi*math.Pow(10, 0.35*float64(len(c.Series)))
		if hi/lo < 10 {
			mid := math.Sqrt(lo * hi)
			lo, hi = mid/math.Sqrt(10), mid*math.Sqrt(10)
		}
		p.Y.Min, p.Y.Max = lo, hi
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range c.Series {
		b := &bars{values: s.Values, width: barWidth, log: c.Log,
			offset: (vg.Length(i) - vg.Length(len(c.Series)-1)/2) * barWidth,
			fill:   palette[i%len(palette)]}
		p.Add(b)
		p.Legend.Add(s.Name, b)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if !c.Log && p.Y.Max > 0 {
		p.Y.Max *= 1 + 0.12*float64(len(c.Series)) // headroom for the legend
	}
	p.NominalX(c.Categories...)
	p.X.Min, p.X.Max = -0.5, float64(len(c.Categories))-0.5
	if len(c.Categories) > 4 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	return p, nil
}

// Size returns a drawing size that fits c: wider with more bars.
func (c *BarChart) Size() (w, h vg.Length) {
	w = vg.Points(120 + 60*float64(len(c.Categories))*math.Max(1, float64(len(c.Series))/2))
	return max(w, 6*vg.Inch), 4 * vg.Inch
}

// Render draws c in format ("png", "svg", "pdf", ...) at its Size to w.
func (c *BarChart) Render(w io.Writer, format string) error {
	p, err := c.Plot()
	if err != nil {
		return err
	}
	width, height := c.Size()
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("report: writing %s: %w", format, err)
	}
	return nil
}

// Save draws c into the file path, in the format its extension names
// (.png, .svg, .pdf, ...).
func (c *BarChart) Save(path string) (err error) {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format == "" {
		return fmt.Errorf("report: %s: no file extension to choose the image format (.png, .svg, .pdf)", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("report: %w", cerr)
		}
	}()
	return c.Render(f, format)
}

// bars draws one series as bars rising from the bottom of the value axis
// (zero on a linear axis), so that a log axis works.
type bars struct {
	values []float64
	width  vg.Length
	offset vg.Length
	fill   color.Color
	log    bool
}

var (
	_ plot.Plotter     = (*bars)(nil)
	_ plot.DataRanger  = (*bars)(nil)
	_ plot.GlyphBoxer  = (*bars)(nil)
	_ plot.Thumbnailer = (*bars)(nil)
)

// Plot implements plot.Plotter.
func (b *bars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	base := 0.0
	if b.log {
		base = plt.Y.Min
	}
	for i, v := range b.values {
		if !drawable(v, b.log) {
			continue
		}
		x := trX(float64(i))
		if !c.ContainsX(x) {
			continue
		}
		x0 := x - b.width/2 + b.offset
		x1 := x0 + b.width
		y0, y1 := trY(base), trY(math.Max(math.Min(v, plt.Y.Max), plt.Y.Min))
		pts := []vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}}
		c.FillPolygon(b.fill, c.ClipPolygonY(pts))
	}
}

// DataRange implements plot.DataRanger.
func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.values {
		if drawable(v, b.log) {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	if !b.log {
		ymin, ymax = math.Min(ymin, 0), math.Max(ymax, 0)
	}
	// With nothing drawable the range stays (+Inf, −Inf), which leaves the
	// plot's range alone.
	return 0, float64(len(b.values) - 1), ymin, ymax
}

// GlyphBoxes implements plot.GlyphBoxer.
func (b *bars) GlyphBoxes(plt *plot.Plot) []plot.GlyphBox {
	boxes := make([]plot.GlyphBox, len(b.values))
	for i := range b.values {
		boxes[i].X = plt.X.Norm(float64(i))
		boxes[i].Rectangle = vg.Rectangle{Min: vg.Point{X: b.offset - b.width/2}, Max: vg.Point{X: b.offset + b.width/2}}
	}
	return boxes
}

// Thumbnail implements plot.Thumbnailer (the legend's swatch).
func (b *bars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.fill, c.ClipPolygonY(pts))
}
