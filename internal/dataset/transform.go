package dataset

import (
	"fmt"
	"math"
)

// Transform is the input normalisation x ← (x·Scale − Mean[c]) / Std[c],
// with c the channel of the value. It mirrors the YAML entry
// data.transform.
type Transform struct {
	// Scale multiplies the raw values first (1/255 maps bytes to [0, 1]);
	// 0 means 1.
	Scale float64 `yaml:"scale,omitempty"`
	// Mean holds one value per channel, or one for all channels; empty means 0.
	Mean []float64 `yaml:"mean,omitempty,flow"`
	// Std holds one positive value per channel, or one for all channels;
	// empty means 1.
	Std []float64 `yaml:"std,omitempty,flow"`
}

// IsIdentity reports whether t leaves values unchanged.
func (t Transform) IsIdentity() bool {
	return (t.Scale == 0 || t.Scale == 1) && len(t.Mean) == 0 && len(t.Std) == 0
}

// Check reports the problems of t that do not depend on the number of
// channels: non-finite values, a negative scale, a standard deviation that
// is not positive, and Mean and Std of different lengths above 1.
func (t Transform) Check() error {
	if err := t.check(); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// check is Check without the package prefix.
func (t Transform) check() error {
	if math.IsNaN(t.Scale) || math.IsInf(t.Scale, 0) || t.Scale < 0 {
		return fmt.Errorf("transform: scale is %v; it must be a positive number (or 0 for 1)", t.Scale)
	}
	for i, m := range t.Mean {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("transform: mean[%d] is %v; it must be a finite number", i, m)
		}
	}
	for i, s := range t.Std {
		if math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
			return fmt.Errorf("transform: std[%d] is %v; a standard deviation must be a positive number", i, s)
		}
	}
	if len(t.Mean) > 1 && len(t.Std) > 1 && len(t.Mean) != len(t.Std) {
		return fmt.Errorf("transform: mean has %d values but std has %d; give one value per channel (or one for all) to each", len(t.Mean), len(t.Std))
	}
	return nil
}

// Apply normalises X in place: x ← (x·scale − mean[c]) / std[c], where each
// sample is laid out channel-major as channels planes of SampleLen/channels
// values and c is the plane's index. A Mean or Std of length 1 applies to
// every channel. The arithmetic is done in float64 and rounded once.
// Datasets that share memory with d (see [Dataset.First]) change too.
func (d *Dataset) Apply(t Transform, channels int) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("dataset: %s: %w", d.Name, err)
	}
	if channels < 1 {
		return fmt.Errorf("dataset: %s: transform: %d channels; there must be at least 1", d.Name, channels)
	}
	s := d.SampleLen()
	if s%channels != 0 {
		return fmt.Errorf("dataset: %s: transform: a sample of %d values (shape %v) does not split into %d channels", d.Name, s, d.Shape, channels)
	}
	for _, p := range []struct {
		name string
		v    []float64
	}{{"mean", t.Mean}, {"std", t.Std}} {
		if n := len(p.v); n > 1 && n != channels {
			return fmt.Errorf("dataset: %s: transform: %s has %d values but the input has %d channels; give one value per channel, or one for all",
				d.Name, p.name, n, channels)
		}
	}
	scale := t.Scale
	if scale == 0 {
		scale = 1
	}
	plane := s / channels
	for start := 0; start < len(d.X); start += s {
		sample := d.X[start : start+s]
		for c := range channels {
			mean, std := channelValue(t.Mean, c, 0), channelValue(t.Std, c, 1)
			for i, v := range sample[c*plane : (c+1)*plane] {
				sample[c*plane+i] = float32((float64(v)*scale - mean) / std)
			}
		}
	}
	return nil
}

// channelValue returns v[c], v[0] when v has one value, or def when v is
// empty.
func channelValue(v []float64, c int, def float64) float64 {
	switch len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	}
	return v[c]
}
