package evaluator

import (
	"context"
	"fmt"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/quant"
)

// Calibration methods for activation ranges.
const (
	MinMax     = "minmax"
	Percentile = "percentile"
	MSE        = "mse"
)

// CalibrationBudget bounds the bytes of values the calibration pass holds
// for a batch: Calibrate runs smaller batches than asked when a sample's
// values would not fit (engine.Model.BatchWithin). The ranges do not depend
// on the batch for minmax; the percentile and MSE histograms re-bin as
// values arrive, so for them the batch is part of the (deterministic)
// result.
const CalibrationBudget = 512 << 20

// CalibrationMethods lists the activation calibration methods.
func CalibrationMethods() []string { return []string{MinMax, Percentile, MSE} }

// Range is an observed activation range.
type Range struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Calibration holds every quantizable layer's input range, observed once in
// a plain fp32 forward over the calibration subset and reused by every
// trial. For MSE the best range depends on the bitwidth, so PerBits[b][l]
// holds it for b = 1..16.
type Calibration struct {
	Method     string                  `json:"method"`
	Percentile float64                 `json:"percentile,omitempty"`
	Samples    int                     `json:"samples"`
	Ranges     []Range                 `json:"ranges"`
	PerBits    map[int][]Range         `json:"per_bits,omitempty"`
	ByMethod   map[string]*Calibration `json:"-"`
}

// Range returns layer l's input range for a bitwidth.
func (c *Calibration) Range(l, bits int) Range {
	if c.PerBits != nil {
		if r, ok := c.PerBits[bits]; ok {
			return r[l]
		}
	}
	return c.Ranges[l]
}

// Affine returns layer l's input quantizer at bits.
func (c *Calibration) Affine(l, bits int) quant.Affine {
	r := c.Range(l, bits)
	return quant.AffineFromRange(r.Min, r.Max, bits)
}

// Calibrate observes every layer's input over data in an fp32 forward.
// percentile is used by the percentile method (e.g. 99.99).
func Calibrate(ctx context.Context, m *engine.Model, data *dataset.Dataset, method string, percentile float64, batch int) (*Calibration, error) {
	if data.Len() == 0 {
		return nil, fmt.Errorf("calibration: the calibration dataset %s is empty", data.Name)
	}
	if err := data.Fit(m.SampleShape()); err != nil {
		return nil, err
	}
	obs := make([]quant.Observer, len(m.Layers))
	var mse []*quant.MSE
	for l := range obs {
		switch method {
		case MinMax, "":
			obs[l] = quant.NewMinMax()
		case Percentile:
			if percentile <= 50 || percentile > 100 {
				return nil, fmt.Errorf("calibration: percentile %v: want a value in (50, 100]", percentile)
			}
			obs[l] = quant.NewPercentile(percentile)
		case MSE:
			o := quant.NewMSE(8)
			mse = append(mse, o)
			obs[l] = o
		default:
			return nil, fmt.Errorf("calibration: method %q: want one of minmax, percentile, mse", method)
		}
	}
	s := engine.NewSession[float32](m)
	defer s.Close()
	// The session keeps every value of a batch (the layer inputs are read
	// after each pass): a large model's batch is capped to keep it bounded.
	if b := m.BatchWithin(batch, CalibrationBudget, 4, false); b < batch {
		batch = engine.EvenBatch(data.Len(), b)
	}
	for _, b := range data.Batches(batch) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := s.Forward(b.X, b.Len()); err != nil {
			return nil, err
		}
		for l := range obs {
			obs[l].Observe(s.LayerInput(l))
		}
	}
	c := &Calibration{Method: method, Samples: data.Len(), Ranges: make([]Range, len(obs))}
	if c.Method == "" {
		c.Method = MinMax
	}
	if method == Percentile {
		c.Percentile = percentile
	}
	for l, o := range obs {
		lo, hi := o.Range()
		c.Ranges[l] = Range{lo, hi}
	}
	if mse != nil {
		c.PerBits = map[int][]Range{}
		for b := 1; b <= quant.MaxBits; b++ {
			rs := make([]Range, len(mse))
			for l, o := range mse {
				lo, hi := o.RangeFor(b)
				rs[l] = Range{lo, hi}
			}
			c.PerBits[b] = rs
		}
	}
	return c, nil
}
