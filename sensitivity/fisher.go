package sensitivity

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/graph"
	"mpq/internal/quant"
)

// fisherTrace returns every layer's empirical Fisher trace
//
//	Tr(F_l) = (1/N) Σ_i ‖∂ℓ_i/∂W_l‖²
//
// with ℓ_i the cross-entropy of sample i: the trace of the empirical Fisher
// information (1/N) Σ_i g_i g_iᵀ, which approximates the Hessian near a
// minimum (the Gauss–Newton argument; Kunstner, Balles and Hennig 2019 on
// its limits). Per-sample gradients come from batches of one, spread over
// GOMAXPROCS goroutines, each with its own Session; the per-sample values
// are summed in sample order, so the result does not depend on the number
// of goroutines.
func fisherTrace(ctx context.Context, m *engine.Model, data *dataset.Dataset, report func(Progress)) ([]float64, error) {
	n, layers := data.Len(), len(m.Layers)
	per := make([]float64, n*layers) // sample-major squared norms
	workers := min(runtime.GOMAXPROCS(0), n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		done  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	fail := func(err error) {
		errMu.Lock()
		if first == nil {
			first = err
		}
		errMu.Unlock()
		cancel()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := engine.NewSession[float64](m)
			defer s.Close()
			s.SkipInputGradient()
			var x []float64
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				x = toFloat64(x, data.Sample(i))
				if _, err := s.Forward(x, 1); err != nil {
					fail(fmt.Errorf("sensitivity: fisher: sample %d: %w", i, err))
					return
				}
				if _, err := s.Backward(data.Labels[i : i+1]); err != nil {
					fail(fmt.Errorf("sensitivity: fisher: sample %d: %w", i, err))
					return
				}
				for l := range layers {
					per[i*layers+l] = dot(s.WeightGrad(l), s.WeightGrad(l))
				}
				if d := done.Add(1); d%16 == 0 || int(d) == n {
					report(Progress{Phase: Fisher, Layers: layers, Sample: int(d), Samples: n, Elapsed: time.Since(start)})
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	out := make([]float64, layers)
	for i := range n {
		for l := range layers {
			out[l] += per[i*layers+l]
		}
	}
	for l := range out {
		out[l] /= float64(n)
		if math.IsNaN(out[l]) || math.IsInf(out[l], 0) {
			return nil, fmt.Errorf("sensitivity: fisher: layer %q: non-finite gradient", m.Layers[l].Name)
		}
	}
	return out, nil
}

// baseline is a float64 forward pass over the subset at the model's own
// weights: the loss, the accuracy, and each layer input's range.
type baseline struct {
	loss, accuracy float64
	ranges         [][2]float64 // per layer: min and max of its input over the subset
}

func forwardBaseline(ctx context.Context, m *engine.Model, data *dataset.Dataset, batch int) (*baseline, error) {
	s := engine.NewSession[float64](m)
	defer s.Close()
	b := &baseline{ranges: make([][2]float64, len(m.Layers))}
	for l := range b.ranges {
		b.ranges[l] = [2]float64{math.Inf(1), math.Inf(-1)}
	}
	var (
		x       []float64
		sum     float64
		correct int
	)
	for i, bt := range data.Batches(batch) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x = toFloat64(x, bt.X)
		logits, err := s.Forward(x, bt.Len())
		if err != nil {
			return nil, fmt.Errorf("sensitivity: batch %d: %w", i, err)
		}
		ls, c, err := engine.CrossEntropy(logits, m.Classes, bt.Labels)
		if err != nil {
			return nil, fmt.Errorf("sensitivity: batch %d: %w", i, err)
		}
		sum += ls
		correct += c
		for l := range m.Layers {
			r := &b.ranges[l]
			for _, v := range s.LayerInput(l) {
				r[0] = math.Min(r[0], v)
				r[1] = math.Max(r[1], v)
			}
		}
	}
	n := float64(data.Len())
	b.loss, b.accuracy = sum/n, float64(correct)/n
	if math.IsNaN(b.loss) || math.IsInf(b.loss, 0) {
		return nil, fmt.Errorf("sensitivity: the model's loss on the subset is %v: its logits overflow", b.loss)
	}
	for l, r := range b.ranges {
		if math.IsNaN(r[0]) || math.IsInf(r[0], 0) || math.IsNaN(r[1]) || math.IsInf(r[1], 0) {
			return nil, fmt.Errorf("sensitivity: layer %q: its input is not finite on the subset", m.Layers[l].Name)
		}
	}
	return b, nil
}

// privateInputs returns a copy of m in which every layer reads its input
// through its own Mul-by-one node, so that the engine's gradient of the
// layer's input is the gradient through that layer alone. This is the
// gradient that matters for quantizing the input as the layer reads it: a
// tensor read by a layer and by a residual Add (or by two layers) otherwise
// has a gradient summed over all its readers, and quantizing it for one
// reader changes only that reader's computation.
func privateInputs(m *engine.Model) (*engine.Model, error) {
	g := *m.Graph
	g.Init = make(map[string]*graph.Tensor, len(m.Graph.Init)+1)
	for k, v := range m.Graph.Init {
		g.Init[k] = v
	}
	taken := func(name string) bool {
		if _, ok := g.Init[name]; ok {
			return true
		}
		for _, n := range m.Graph.Nodes {
			for _, o := range n.Outputs {
				if o == name {
					return true
				}
			}
		}
		return name == m.Input
	}
	unique := func(base string) string {
		name := base
		for i := 1; taken(name); i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		return name
	}
	one := unique("mpq_sensitivity_one")
	g.Init[one] = &graph.Tensor{Name: one, DType: graph.Float32, Shape: []int{}, Float: []float64{1}}
	g.InitOrder = append(append([]string(nil), m.Graph.InitOrder...), one)
	g.Nodes = make([]*graph.Node, 0, len(m.Graph.Nodes)+len(m.Layers))
	li := 0
	for _, n := range m.Graph.Nodes {
		if li < len(m.Layers) {
			l := m.Layers[li]
			xi, wi := 0, 1
			if l.WeightFirst { // W @ x
				xi, wi = 1, 0
			}
			if n.Op == l.Op && n.Input(xi) == l.Input && n.Input(wi) == l.Weight && (n.Name == l.Name || n.Name == "") {
				in := unique(fmt.Sprintf("%s_mpq_input_%d", l.Input, li))
				g.Nodes = append(g.Nodes, &graph.Node{Name: unique(fmt.Sprintf("mpq_input_%d", li)), Op: "Mul", Inputs: []string{l.Input, one}, Outputs: []string{in}})
				c := *n
				c.Inputs = append([]string(nil), n.Inputs...)
				c.Inputs[xi] = in
				g.Nodes = append(g.Nodes, &c)
				li++
				continue
			}
		}
		g.Nodes = append(g.Nodes, n)
	}
	if li != len(m.Layers) {
		return nil, fmt.Errorf("sensitivity: found %d of the model's %d layers in its graph", li, len(m.Layers))
	}
	pm, err := engine.New(&g)
	if err != nil {
		return nil, fmt.Errorf("sensitivity: activation model: %w", err)
	}
	if len(pm.Layers) != len(m.Layers) {
		return nil, fmt.Errorf("sensitivity: activation model has %d layers, want %d", len(pm.Layers), len(m.Layers))
	}
	for l := range pm.Layers {
		if pm.Layers[l].Name != m.Layers[l].Name {
			return nil, fmt.Errorf("sensitivity: activation model layer %d is %q, want %q", l, pm.Layers[l].Name, m.Layers[l].Name)
		}
	}
	return pm, nil
}

// activationResult is the activation phase's output.
type activationResult struct {
	trace []float64   // per layer: (1/N) Σ_i ‖∂ℓ_i/∂a_{l,i}‖²
	numel []int       // per layer: input values per sample
	qerr  [][]float64 // per layer and bitwidth: (1/N) Σ_i ‖Q_b(a_{l,i}) − a_{l,i}‖²
}

// activationTrace computes, for every layer's input activation a_l, the
// empirical Fisher trace (1/N) Σ_i ‖∂ℓ_i/∂a_{l,i}‖² and the mean squared
// error of affine fake quantization at each bitwidth with the min–max
// range observed on the subset. The gradient of a batch's mean loss with
// respect to sample i's activation is (1/n_b)·∂ℓ_i/∂a_{l,i}, since the
// other samples do not depend on it: one batched backward pass yields every
// per-sample activation gradient.
func activationTrace(ctx context.Context, m *engine.Model, data *dataset.Dataset, batch int, ranges [][2]float64, bits []int, report func(Progress)) (*activationResult, error) {
	pm, err := privateInputs(m)
	if err != nil {
		return nil, err
	}
	lg := newLossGrad(pm, data, batch)
	layers := len(m.Layers)
	res := &activationResult{trace: make([]float64, layers), numel: make([]int, layers), qerr: make([][]float64, layers)}
	affine := make([][]quant.Affine, layers)
	for l := range layers {
		res.qerr[l] = make([]float64, len(bits))
		affine[l] = make([]quant.Affine, len(bits))
		for k, b := range bits {
			if b != quant.FloatBits {
				affine[l][k] = quant.AffineFromRange(ranges[l][0], ranges[l][1], b)
			}
		}
	}
	var scratch []float64
	start := time.Now()
	seen := 0
	err = lg.batches(ctx, func(bt dataset.Batch, _ float64) error {
		nb := bt.Len()
		for l := range layers {
			g := lg.sess.InputGrad(l)
			a := lg.sess.LayerInput(l)
			if g == nil || a == nil || len(g) != len(a) || len(a)%nb != 0 {
				return fmt.Errorf("sensitivity: layer %q: no input gradient", m.Layers[l].Name)
			}
			res.numel[l] = len(a) / nb
			// Σ_i ‖n_b·row_i‖² = n_b²·‖g‖².
			res.trace[l] += float64(nb) * float64(nb) * dot(g, g)
			scratch = resize(scratch, len(a))
			for k, b := range bits {
				if b == quant.FloatBits {
					continue
				}
				quant.FakeQuant64(scratch, a, affine[l][k])
				e := 0.0
				for j, q := range scratch {
					d := q - a[j]
					e += d * d
				}
				res.qerr[l][k] += e
			}
		}
		seen += nb
		report(Progress{Phase: Activation, Layers: layers, Sample: seen, Samples: data.Len(), Elapsed: time.Since(start)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sensitivity: activation: %w", err)
	}
	n := float64(data.Len())
	for l := range layers {
		res.trace[l] /= n
		for k := range res.qerr[l] {
			res.qerr[l][k] /= n
		}
		if math.IsNaN(res.trace[l]) || math.IsInf(res.trace[l], 0) {
			return nil, fmt.Errorf("sensitivity: activation: layer %q: non-finite gradient", m.Layers[l].Name)
		}
	}
	return res, nil
}
