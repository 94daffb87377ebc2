package sensitivity

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/kernel"
	"mpq/internal/quant"
)

// Perturb is what quantizing one layer (weights or input), all else float,
// does to the model on the subset, measured in float32 as the evaluator
// runs it.
type Perturb struct {
	// DLoss is the change of the mean cross-entropy (quantized − float).
	DLoss float64 `json:"dloss"`
	// DAccuracy is the change of top-1 accuracy, as a fraction.
	DAccuracy float64 `json:"daccuracy"`
	// SQNR is the signal-to-quantization-noise ratio of the logits in dB,
	// 10·log10(‖z‖²/‖z − ẑ‖²), clamped to ±MaxSQNR (MaxSQNR when they are
	// equal).
	SQNR float64 `json:"sqnr_db"`
}

// MaxSQNR is the SQNR reported for logits that quantization left unchanged.
const MaxSQNR = 300.0

// perturbJob is one measurement: layer l with weights (act false) or input
// (act true) quantized to bits.
type perturbJob struct {
	layer, bits int
	act         bool
}

// perturbation measures every layer alone (AIMET's per-layer sensitivity
// analysis, phase 1 of its automatic mixed precision): for each weight
// bitwidth, the layer's weights quantized uniform per channel; for each
// activation bitwidth, its input fake-quantized per tensor with the min–max
// range observed on the subset. The measurements run on GOMAXPROCS
// goroutines, each with its own float32 Session; results do not depend on
// the number of goroutines.
func perturbation(ctx context.Context, m *engine.Model, data *dataset.Dataset, opt *Options, report func(Progress)) (weights, acts []map[int]Perturb, err error) {
	layers := len(m.Layers)
	ref := engine.NewSession[float32](m)
	defer ref.Close()
	nLogits := data.Len() * m.Classes
	fp := make([]float32, 0, nLogits)
	obs := make([]*quant.MinMax, layers)
	for l := range obs {
		obs[l] = quant.NewMinMax()
	}
	fpLoss, fpCorrect := 0.0, 0
	for i, b := range data.Batches(opt.Batch) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		z, err := ref.Forward(b.X, b.Len())
		if err != nil {
			return nil, nil, fmt.Errorf("sensitivity: perturbation: batch %d: %w", i, err)
		}
		s, c, err := engine.CrossEntropy(z, m.Classes, b.Labels)
		if err != nil {
			return nil, nil, fmt.Errorf("sensitivity: perturbation: batch %d: %w", i, err)
		}
		fpLoss += s
		fpCorrect += c
		fp = append(fp, z...)
		for l := range layers {
			obs[l].Observe(ref.LayerInput(l))
		}
	}
	n := float64(data.Len())
	fpLoss /= n
	fpAcc := float64(fpCorrect) / n

	var jobs []perturbJob
	for l := range layers {
		for _, b := range opt.WeightBits {
			jobs = append(jobs, perturbJob{l, b, false})
		}
		for _, b := range opt.ActivationBits {
			jobs = append(jobs, perturbJob{l, b, true})
		}
	}
	results := make([]Perturb, len(jobs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		done  int
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(jobs) || first != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	finish := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if first == nil {
				first = err
				cancel()
			}
			return
		}
		done++
		report(Progress{Phase: Perturbation, Layer: done * layers / len(jobs), Layers: layers, Sample: done, Samples: len(jobs), Elapsed: time.Since(start)})
	}
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := engine.NewSession[float32](m)
			defer s.Close()
			var (
				w32 []float32
				q64 []float64
				fq  kernel.FakeQuant[float32]
			)
			for {
				i, ok := take()
				if !ok {
					return
				}
				j := jobs[i]
				layer := m.Layers[j.layer]
				if j.bits == quant.FloatBits {
					results[i] = Perturb{SQNR: MaxSQNR}
					finish(nil)
					continue
				}
				if j.act {
					lo, hi := obs[j.layer].Range()
					a := quant.AffineFromRange(lo, hi, j.bits)
					fq = kernel.FakeQuant[float32]{Scale: float32(a.Scale), ZP: float32(a.ZeroPoint), Lo: 0, Hi: float32(int64(1)<<j.bits - 1)}
					s.SetInputQuant(j.layer, &fq)
				} else {
					w := m.Graph.Init[layer.Weight].Floats()
					q64 = resize(q64, len(w))
					if err := quant.WeightsLayout(q64, w, layer.Shape, layer.ChannelAxis, quant.WeightSpec{Method: quant.Uniform, Bits: j.bits}, nil); err != nil {
						finish(fmt.Errorf("sensitivity: perturbation: layer %q at %d bits: %w", layer.Name, j.bits, err))
						return
					}
					if cap(w32) < len(w) {
						w32 = make([]float32, len(w))
					}
					w32 = w32[:len(w)]
					for k, v := range q64 {
						w32[k] = float32(v)
					}
					s.SetWeight(j.layer, w32)
				}
				p, err := measure(ctx, s, m, data, opt.Batch, fp)
				s.SetWeight(j.layer, nil)
				s.SetInputQuant(j.layer, nil)
				if err != nil {
					finish(fmt.Errorf("sensitivity: perturbation: layer %q at %d bits: %w", layer.Name, j.bits, err))
					return
				}
				p.DLoss -= fpLoss
				p.DAccuracy -= fpAcc
				results[i] = p
				finish(nil)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	weights = make([]map[int]Perturb, layers)
	acts = make([]map[int]Perturb, layers)
	for i, j := range jobs {
		dst := &weights[j.layer]
		if j.act {
			dst = &acts[j.layer]
		}
		if *dst == nil {
			*dst = map[int]Perturb{}
		}
		(*dst)[j.bits] = results[i]
	}
	return weights, acts, nil
}

// measure runs s over the subset and returns the loss and accuracy (not yet
// relative to float) and the SQNR of the logits against fp.
func measure(ctx context.Context, s *engine.Session[float32], m *engine.Model, data *dataset.Dataset, batch int, fp []float32) (Perturb, error) {
	var (
		loss          float64
		correct       int
		signal, noise float64
	)
	for i, b := range data.Batches(batch) {
		if err := ctx.Err(); err != nil {
			return Perturb{}, err
		}
		z, err := s.Forward(b.X, b.Len())
		if err != nil {
			return Perturb{}, fmt.Errorf("batch %d: %w", i, err)
		}
		sum, c, err := engine.CrossEntropy(z, m.Classes, b.Labels)
		if err != nil {
			return Perturb{}, fmt.Errorf("batch %d: %w", i, err)
		}
		loss += sum
		correct += c
		ref := fp[b.Start*m.Classes : (b.Start+b.Len())*m.Classes]
		for k, v := range z {
			r := float64(ref[k])
			d := float64(v) - r
			signal += r * r
			noise += d * d
		}
	}
	n := float64(data.Len())
	p := Perturb{DLoss: loss / n, DAccuracy: float64(correct) / n, SQNR: MaxSQNR}
	if noise > 0 {
		// Clamped both ways: all-zero float logits would give −∞.
		p.SQNR = math.Max(math.Min(10*math.Log10(signal/noise), MaxSQNR), -MaxSQNR)
	}
	if math.IsNaN(p.DLoss) || math.IsInf(p.DLoss, 0) || math.IsNaN(p.SQNR) {
		return Perturb{}, fmt.Errorf("the quantized model's loss is %v", p.DLoss)
	}
	return p, nil
}
