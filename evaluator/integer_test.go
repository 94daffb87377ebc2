package evaluator

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

// loadMNISTTest returns the first n images of the MNIST test set,
// normalized as the shipped models were trained.
func loadMNISTTest(t testing.TB, m *engine.Model, n int) *dataset.Dataset {
	t.Helper()
	d, err := dataset.Load(dataset.Source{Format: "idx", Images: "t10k-images-idx3-ubyte.gz", Labels: "t10k-labels-idx1-ubyte.gz"}, filepath.Join("..", "testdata", "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(m.SampleShape()); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(dataset.Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 1); err != nil {
		t.Fatal(err)
	}
	sub, err := d.First(n)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// mixedPlan returns a plan whose layers alternate 4- and 8-bit weights and
// 8- and 4-bit inputs.
func mixedPlan(m *engine.Model) Plan {
	p := UniformPlan(m, 8, 8)
	for i := range p {
		p[i].WeightBits = []int{4, 8}[i%2]
		p[i].ActivationBits = []int{8, 4}[(i/2)%2]
	}
	return p
}

// TestIntegerAgreement checks integer evaluation (WithIntegerArithmetic)
// against the fake-quant path on 2,000 MNIST test images for every shipped
// model, with a w8a8 and a mixed 4/8-bit plan, and explains every
// difference between the two.
//
// Both paths quantize the same values to the same grids; they differ only
// in float32 rounding: the fake-quant path sums float32 products of
// rounded ŵ = code·s_w and x̂, the integer path sums codes exactly and
// rounds once when dequantizing. Such a difference, of the order of 1e-7
// relative, changes a layer's output by far less than a quantization step,
// so it can change a downstream activation code only when that value lies
// at a rounding tie. The test checks exactly that, per sample:
//
//   - a sample with no activation code differing between the paths has
//     logits within 1e-4 of each other (accumulation order alone);
//   - in the first layer where a sample's codes differ, every differing
//     code comes from a value within 1e-3 of a quantization step of a tie
//     (x/s at a half-integer) in the fake-quant path; later layers may
//     differ further, as the flipped codes propagate;
//   - a sample whose top-1 prediction differs has a top-2 logit margin below
//     0.5 in the fake-quant path (the largest logit change the propagated
//     flips cause on these models and plans is about 0.15, so a prediction
//     can only change where two logits are that close; with 2-bit
//     activations one flip moves the logits of resnet by up to 1);
//   - predictions agree on at least 99.9 % of the samples.
func TestIntegerAgreement(t *testing.T) {
	const samples, batch = 2000, 250
	for _, name := range []string{"mlp", "lenet", "resnet", "resnet_bn"} {
		m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		data := loadMNISTTest(t, m, samples)
		calib, err := Calibrate(context.Background(), m, data, MinMax, 0, batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, pc := range []struct {
			name string
			plan Plan
		}{{"w8a8", UniformPlan(m, 8, 8)}, {"mixed", mixedPlan(m)}} {
			t.Run(name+"/"+pc.name, func(t *testing.T) {
				st := compareInteger(t, m, data, calib, pc.plan, batch)
				t.Logf("%d samples: %d predictions differ (margins %v); %d codes flipped in %d samples, first-order flips all at ties; max |Δlogit| %.3g, %.3g in samples without flips; fake-quant accuracy %.4f, integer %.4f",
					st.samples, len(st.margins), st.margins, st.flips, st.flippedSamples, st.maxDelta, st.maxDeltaNoFlip, st.accFake, st.accInt)
				if agree := 1 - float64(len(st.margins))/float64(st.samples); agree < 0.999 {
					t.Errorf("predictions agree on %.4f of the samples, want ≥ 0.999", agree)
				}
			})
		}
	}
}

// agreement is what compareInteger measured.
type agreement struct {
	samples, flips, flippedSamples int
	margins                        []float64 // fake-quant top-2 margin of each sample whose prediction differs
	maxDelta, maxDeltaNoFlip       float64   // largest |logit difference|, overall and in samples without code flips
	accFake, accInt                float64
}

// compareInteger evaluates plan on data with and without integer
// arithmetic, batch by batch, and checks the explanation of
// TestIntegerAgreement for every sample.
func compareInteger(t *testing.T, m *engine.Model, data *dataset.Dataset, calib *Calibration, plan Plan, batch int) agreement {
	t.Helper()
	fq, err := New(m, data, batch, calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(m, data, batch, calib, nil, WithIntegerArithmetic())
	if err != nil {
		t.Fatal(err)
	}
	if err := fq.Apply(plan); err != nil {
		t.Fatal(err)
	}
	if err := in.Apply(plan); err != nil {
		t.Fatal(err)
	}
	var st agreement
	correctF, correctI := 0, 0
	k := m.Classes
	for _, b := range data.Batches(batch) {
		n := b.Len()
		lf, err := fq.sess.Forward(b.X, n)
		if err != nil {
			t.Fatal(err)
		}
		li, err := in.sess.Forward(b.X, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.IntegerLayers(); slices.Contains(got, false) {
			t.Fatalf("integer layers %v: every layer of the plan is eligible", got)
		}
		// Per sample: the first layer with differing codes, and the flips.
		first := make([]int, n)
		for s := range first {
			first[s] = -1
		}
		for l := range m.Layers {
			xf, xi := fq.sess.LayerInput(l), in.sess.LayerInput(l)
			q := &fq.fq[l]
			per := len(xf) / n
			for j := range xf {
				if q.Apply(xf[j]) == q.Apply(xi[j]) {
					continue
				}
				s := j / per
				st.flips++
				if first[s] == -1 {
					first[s] = l
					st.flippedSamples++
				}
				if first[s] == l {
					// A first-order flip: its input differs by rounding
					// only, so it must sit at a tie.
					u := float64(xf[j]) / float64(q.Scale)
					if tie := math.Abs(u - math.Floor(u) - 0.5); tie > 1e-3 {
						t.Errorf("sample %d layer %q: code flipped for x/s = %.7f (integer path %.7f), %.3g from a tie", b.Start+s, m.Layers[l].Name, u, float64(xi[j])/float64(q.Scale), tie)
					}
				}
			}
		}
		for s := range n {
			rf, ri := lf[s*k:(s+1)*k], li[s*k:(s+1)*k]
			var d float64
			for j := range rf {
				d = max(d, math.Abs(float64(rf[j]-ri[j])))
			}
			st.maxDelta = max(st.maxDelta, d)
			if first[s] == -1 {
				st.maxDeltaNoFlip = max(st.maxDeltaNoFlip, d)
				if d > 1e-4 {
					t.Errorf("sample %d: logits differ by %.3g without any code flip", b.Start+s, d)
				}
			}
			af, ai := argmax(rf), argmax(ri)
			if af == b.Labels[s] {
				correctF++
			}
			if ai == b.Labels[s] {
				correctI++
			}
			if af != ai {
				sorted := slices.Clone(rf)
				slices.Sort(sorted)
				margin := float64(sorted[k-1] - sorted[k-2])
				st.margins = append(st.margins, margin)
				if margin > 0.5 {
					t.Errorf("sample %d: prediction %d (fake-quant) vs %d (integer) with a top-2 margin of %.3g", b.Start+s, af, ai, margin)
				}
			}
		}
		st.samples += n
	}
	st.accFake = float64(correctF) / float64(st.samples)
	st.accInt = float64(correctI) / float64(st.samples)
	return st
}

func argmax(r []float32) int {
	best := 0
	for j, v := range r {
		if v > r[best] {
			best = j
		}
	}
	return best
}
