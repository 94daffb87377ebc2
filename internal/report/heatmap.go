package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Cell is one layer's bitwidths in one plan. Negative bits mark a layer the
// plan does not name.
type Cell struct {
	WeightBits     int
	ActivationBits int
	Quantizer      string // weight quantizer; "" or "uniform" is not shown
}

// HeatmapChart is the data of a bitwidth map: one row per plan, one column
// per layer, each cell coloured by its weight bits and labelled with its
// weight and activation bits.
type HeatmapChart struct {
	Title, XLabel, YLabel string
	Columns               []string
	Rows                  []string // bottom to top
	Cells                 [][]Cell // [row][column]
}

// Validate reports whether c can be drawn.
func (c *HeatmapChart) Validate() error {
	if len(c.Columns) == 0 || len(c.Rows) == 0 {
		return fmt.Errorf("%w: a heatmap needs at least one row and one column (%d rows, %d columns)", ErrChart, len(c.Rows), len(c.Columns))
	}
	if len(c.Cells) != len(c.Rows) {
		return fmt.Errorf("%w: %d rows of cells for %d row labels", ErrChart, len(c.Cells), len(c.Rows))
	}
	for i, r := range c.Cells {
		if len(r) != len(c.Columns) {
			return fmt.Errorf("%w: row %q has %d cells for %d columns", ErrChart, c.Rows[i], len(r), len(c.Columns))
		}
	}
	return nil
}

// compact reports whether the cells are narrow and labelled "4/8" rather
// than "w4 a8".
func (c *HeatmapChart) compact() bool { return len(c.Columns) > 16 }

// cellWidth is the width of one column.
func (c *HeatmapChart) cellWidth() vg.Length {
	if c.compact() {
		return vg.Points(40)
	}
	return vg.Points(62)
}

// Size returns a drawing size that fits c: room for the row labels, the
// rotated column labels and a fixed size per cell.
func (c *HeatmapChart) Size() (w, h vg.Length) {
	long := 0
	for _, s := range c.Columns {
		long = max(long, len([]rune(s)))
	}
	w = vg.Points(230) + c.cellWidth()*vg.Length(len(c.Columns))
	h = vg.Points(110+5.2*float64(long)) + vg.Points(26)*vg.Length(len(c.Rows))
	return max(w, 6*vg.Inch), max(h, 3.5*vg.Inch)
}

// bitColours maps weight bits to a colour: a light-to-dark sequential scale
// (ColorBrewer YlGnBu) over the distinct bit widths, fewest bits lightest;
// float (32) is grey.
func bitColours(cells [][]Cell) map[int]color.RGBA {
	scale := []color.RGBA{{255, 255, 204, 255}, {199, 233, 180, 255}, {127, 205, 187, 255}, {65, 182, 196, 255},
		{29, 145, 192, 255}, {34, 94, 168, 255}, {37, 52, 148, 255}, {8, 29, 88, 255}}
	var bits []int
	for _, r := range cells {
		for _, c := range r {
			if c.WeightBits > 0 && c.WeightBits != 32 && !slices.Contains(bits, c.WeightBits) {
				bits = append(bits, c.WeightBits)
			}
		}
	}
	slices.Sort(bits)
	out := map[int]color.RGBA{32: {200, 200, 200, 255}}
	for i, b := range bits {
		k := 0
		if len(bits) > 1 {
			k = int(math.Round(float64(i) / float64(len(bits)-1) * float64(len(scale)-1)))
		}
		out[b] = scale[k]
	}
	return out
}

// Plot builds the gonum plot of c.
func (c *HeatmapChart) Plot() (*plot.Plot, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := plot.New()
	p.Title.Text = c.Title + "\nw = weight bits, a = activation bits; darker = more weight bits"
	if c.compact() {
		p.Title.Text = c.Title + "\ncells: weight bits/activation bits; darker = more weight bits"
	}
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(&cells{chart: c, colours: bitColours(c.Cells)})
	p.NominalX(c.Columns...)
	p.NominalY(c.Rows...)
	p.X.Min, p.X.Max = -0.5, float64(len(c.Columns))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(c.Rows))-0.5
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p, nil
}

// cells draws the heatmap's cells.
type cells struct {
	chart   *HeatmapChart
	colours map[int]color.RGBA
}

// Plot implements plot.Plotter.
func (h *cells) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	big := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(10)), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	small := big
	small.Font = font.From(plot.DefaultFont, vg.Points(7.5))
	if h.chart.compact() {
		big.Font.Size = vg.Points(8)
	}
	for i, row := range h.chart.Cells {
		for j, cell := range row {
			x0, x1 := trX(float64(j)-0.5), trX(float64(j)+0.5)
			y0, y1 := trY(float64(i)-0.5), trY(float64(i)+0.5)
			fill := color.RGBA{255, 255, 255, 255}
			label := "–"
			if cell.WeightBits > 0 {
				fill = h.colours[cell.WeightBits]
				label = fmt.Sprintf("w%s a%s", bitsLabel(cell.WeightBits), bitsLabel(cell.ActivationBits))
				if h.chart.compact() {
					label = fmt.Sprintf("%s/%s", bitsLabel(cell.WeightBits), bitsLabel(cell.ActivationBits))
				}
			}
			rect := []vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}}
			c.FillPolygon(fill, rect)
			c.StrokeLines(draw.LineStyle{Color: color.White, Width: vg.Points(1.5)}, append(rect, rect[0]))
			ink := color.Color(color.Black)
			if luminance(fill) < 0.45 {
				ink = color.White
			}
			mid := vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}
			t := big
			t.Color = ink
			if cell.Quantizer != "" && cell.Quantizer != "uniform" {
				s := small
				s.Color = ink
				c.FillText(t, vg.Point{X: mid.X, Y: mid.Y + vg.Points(4)}, label)
				c.FillText(s, vg.Point{X: mid.X, Y: mid.Y - vg.Points(6)}, cell.Quantizer)
				continue
			}
			c.FillText(t, mid, label)
		}
	}
}

func bitsLabel(b int) string {
	switch {
	case b == 32:
		return "fp"
	case b < 0:
		return "?"
	}
	return fmt.Sprint(b)
}

// luminance is the relative luminance of c in [0, 1].
func luminance(c color.RGBA) float64 {
	return (0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)) / 255
}
