package evaluator

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/kernel"
	"mpq/internal/quant"
)

// Result is what one evaluation measured.
type Result struct {
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Samples  int     `json:"samples"`
	Correct  int     `json:"-"`
}

// WeightCache holds quantized weights per (layer, quantizer, bits). It is
// safe for concurrent use, so the evaluators of several workers share one.
type WeightCache struct {
	model *engine.Model
	mu    sync.Mutex
	m     map[wkey][]float32
	hess  [][]float64                     // per layer: Hessian-diagonal estimate for kmeans-hessian
	ints  map[wkey]*engine.IntegerWeights // integer codes of the uniform quantizer (integer.go)
}

type wkey struct {
	layer  int
	method quant.Method
	bits   int
}

// NewWeightCache returns an empty cache for m.
func NewWeightCache(m *engine.Model) *WeightCache {
	return &WeightCache{model: m, m: map[wkey][]float32{}, hess: make([][]float64, len(m.Layers)), ints: map[wkey]*engine.IntegerWeights{}}
}

// SetHessianDiag supplies layer l's per-weight Hessian-diagonal estimate (in
// the weight initializer's layout), used by the kmeans-hessian quantizer.
func (c *WeightCache) SetHessianDiag(l int, diag []float64) error {
	if len(diag) != c.model.Layers[l].Params {
		return fmt.Errorf("evaluator: Hessian diagonal for layer %q has %d values, want %d", c.model.Layers[l].Name, len(diag), c.model.Layers[l].Params)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hess[l] = diag
	for k := range c.m {
		if k.layer == l && k.method == quant.KMeansHessian {
			delete(c.m, k)
		}
	}
	return nil
}

// HasHessianDiag reports whether layer l has a Hessian-diagonal estimate.
func (c *WeightCache) HasHessianDiag(l int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hess[l] != nil
}

// Get returns layer l's weight quantized by spec, in the initializer's
// layout, as float32. The slice is shared: do not modify it.
func (c *WeightCache) Get(l int, method quant.Method, bits int) ([]float32, error) {
	k := wkey{l, method, bits}
	c.mu.Lock()
	w, ok := c.m[k]
	hess := c.hess[l]
	c.mu.Unlock()
	if ok {
		return w, nil
	}
	q, err := QuantizeWeight(c.model, l, quant.WeightSpec{Method: method, Bits: bits}, hess)
	if err != nil {
		return nil, err
	}
	w = make([]float32, len(q))
	for i, v := range q {
		w[i] = float32(v)
	}
	c.mu.Lock()
	c.m[k] = w
	c.mu.Unlock()
	return w, nil
}

// QuantizeWeight quantizes layer l's weight of model m by spec and returns it
// in the initializer's layout (float64). hess is the per-weight importance
// for kmeans-hessian, in the same layout. Layers whose output channels are
// axis 1 (Gemm with transB=0, MatMul) are transposed to channel-major and
// back around the quantizer.
func QuantizeWeight(m *engine.Model, l int, spec quant.WeightSpec, hess []float64) ([]float64, error) {
	layer := m.Layers[l]
	w := m.Graph.Init[layer.Weight].Floats()
	out := make([]float64, len(w))
	if spec.Bits == FloatBits {
		copy(out, w)
		return out, nil
	}
	if spec.Method == quant.KMeansHessian && hess == nil {
		return nil, fmt.Errorf("evaluator: layer %q: the kmeans-hessian quantizer needs a Hessian-diagonal estimate; run the sensitivity analysis first or use kmeans", layer.Name)
	}
	if err := quant.WeightsLayout(out, w, layer.Shape, layer.ChannelAxis, spec, hess); err != nil {
		return nil, fmt.Errorf("evaluator: layer %q: %w", layer.Name, err)
	}
	return out, nil
}

// Evaluator scores plans on one dataset. It is not safe for concurrent use;
// make one per goroutine (they may share the Model, the Dataset, the
// Calibration and the WeightCache).
type Evaluator struct {
	model *engine.Model
	data  *dataset.Dataset
	batch int
	sess  *engine.Session[float32] // sessions[0]
	// sessions holds one single-threaded session per worker of team; each
	// batch is split into contiguous parts, one per session (batchJob).
	sessions []*engine.Session[float32]
	team     *kernel.Team
	job      batchJob
	calib    *Calibration
	weights  *WeightCache
	fq       []kernel.FakeQuant[float32]
	integer  bool // WithIntegerArithmetic
}

// New returns an evaluator of m on data with the given batch size. calib may
// be nil when no plan quantizes activations; weights may be nil (a private
// cache is made). opts configure it (WithIntegerArithmetic).
func New(m *engine.Model, data *dataset.Dataset, batch int, calib *Calibration, weights *WeightCache, opts ...Option) (*Evaluator, error) {
	if batch < 1 {
		return nil, fmt.Errorf("evaluator: batch size %d: want at least 1", batch)
	}
	if data.Len() == 0 {
		return nil, fmt.Errorf("evaluator: the evaluation dataset %s is empty", data.Name)
	}
	if err := data.Fit(m.SampleShape()); err != nil {
		return nil, err
	}
	if err := data.CheckLabels(m.Classes); err != nil {
		return nil, err
	}
	if weights == nil {
		weights = NewWeightCache(m)
	}
	e := &Evaluator{model: m, data: data, batch: batch, team: kernel.NewTeam(0),
		calib: calib, weights: weights, fq: make([]kernel.FakeQuant[float32], len(m.Layers))}
	// The Team's goroutines refer to its channels only, so e can become
	// unreachable while they run; then they are stopped.
	runtime.AddCleanup(e, (*kernel.Team).Close, e.team)
	for range e.team.Workers() {
		e.sessions = append(e.sessions, engine.NewInferenceSessionWorkers[float32](m, 1))
	}
	e.sess = e.sessions[0]
	e.job = batchJob{sessions: e.sessions, classes: m.Classes, per: data.SampleLen(),
		parts: make([]batchPart, len(e.sessions))}
	for _, opt := range opts {
		opt(e)
	}
	return e, nil
}

// Model returns the evaluator's model.
func (e *Evaluator) Model() *engine.Model { return e.model }

// Samples is the size of the evaluation dataset.
func (e *Evaluator) Samples() int { return e.data.Len() }

// Apply makes the session compute with plan p: quantized weights from the
// cache and fake-quantized layer inputs.
func (e *Evaluator) Apply(p Plan) error {
	if err := p.Validate(e.model); err != nil {
		return err
	}
	for l, s := range p {
		var w []float32 // nil: the float weight
		if s.WeightBits != FloatBits {
			var err error
			if w, err = e.weights.Get(l, s.WeightQuantizer, s.WeightBits); err != nil {
				return err
			}
		}
		for _, ss := range e.sessions {
			ss.SetWeight(l, w)
		}
		if s.ActivationBits == FloatBits {
			for _, ss := range e.sessions {
				ss.SetInputQuant(l, nil)
			}
			continue
		}
		c := e.calib
		if c == nil {
			return fmt.Errorf("evaluator: layer %q quantizes its input but no calibration was run", e.model.Layers[l].Name)
		}
		if s.Calibration != "" && s.Calibration != c.Method {
			alt, ok := c.ByMethod[s.Calibration]
			if !ok {
				return fmt.Errorf("evaluator: layer %q asks for %s calibration, which was not run", e.model.Layers[l].Name, s.Calibration)
			}
			c = alt
		}
		a := c.Affine(l, s.ActivationBits)
		e.fq[l] = kernel.FakeQuant[float32]{Scale: float32(a.Scale), ZP: float32(a.ZeroPoint), Lo: 0, Hi: float32(int64(1)<<s.ActivationBits - 1)}
		for _, ss := range e.sessions {
			ss.SetInputQuant(l, &e.fq[l])
		}
	}
	return e.applyInteger(p)
}

// Evaluate scores plan p on the whole dataset.
func (e *Evaluator) Evaluate(ctx context.Context, p Plan) (Result, error) {
	return e.EvaluatePartial(ctx, p, 0, nil)
}

// EvaluatePartial scores plan p on a growing prefix of the dataset: after
// every chunk samples (0: only at the end) it calls report with the result so
// far; when report returns false the evaluation stops there and that partial
// result is returned. ctx is checked between batches.
func (e *Evaluator) EvaluatePartial(ctx context.Context, p Plan, chunk int, report func(Result) bool) (Result, error) {
	if err := e.Apply(p); err != nil {
		return Result{}, err
	}
	var r Result
	sum := 0.0
	finish := func() Result {
		out := r
		out.Accuracy = float64(r.Correct) / float64(r.Samples)
		out.Loss = sum / float64(r.Samples)
		return out
	}
	next := chunk
	for _, b := range e.data.Batches(e.batch) {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		l, c, err := e.forward(b.X, b.Labels)
		if err != nil {
			return r, err
		}
		sum += l
		r.Correct += c
		r.Samples += b.Len()
		if chunk > 0 && report != nil && r.Samples >= next && r.Samples < e.data.Len() {
			next += chunk
			if !report(finish()) {
				return finish(), nil
			}
		}
	}
	out := finish()
	if math.IsNaN(out.Loss) || math.IsInf(out.Loss, 0) {
		return out, fmt.Errorf("evaluator: the loss is not finite: the model or its inputs hold NaN/Inf values")
	}
	if report != nil {
		report(out)
	}
	return out, nil
}

// forward runs the batch x (labels: its labels) split into contiguous
// parts over the evaluator's sessions, one part per worker, and returns
// the summed cross-entropy (added up part by part in sample order, so the
// result does not depend on timing) and the number of correct
// predictions.
func (e *Evaluator) forward(x []float32, labels []int) (float64, int, error) {
	j := &e.job
	j.x, j.labels = x, labels
	clear(j.parts)
	kernel.Parallel(e.team, len(labels), 1, j)
	j.x, j.labels = nil, nil
	sum, correct := 0.0, 0
	for _, p := range j.parts {
		if p.err != nil {
			return 0, 0, p.err
		}
		sum += p.loss
		correct += p.correct
	}
	return sum, correct, nil
}

// batchJob is a batch shared out over single-threaded sessions: the part
// [lo, hi) of its samples runs on worker w's session.
type batchJob struct {
	sessions []*engine.Session[float32]
	classes  int
	per      int // values per sample
	x        []float32
	labels   []int
	parts    []batchPart // per worker; zero for workers without a part
}

// batchPart is one part's result.
type batchPart struct {
	loss    float64 // summed cross-entropy
	correct int
	err     error
}

// Range implements kernel.Ranger.
func (j *batchJob) Range(w, lo, hi int) {
	var p batchPart
	// Each part runs in chunks that keep a convolutional network's feature
	// maps in the core's cache from one layer to the next.
	chunk, err := j.sessions[w].Chunk(hi - lo)
	if err != nil {
		j.parts[w] = batchPart{err: err}
		return
	}
	for a := lo; a < hi; a += chunk {
		b := min(hi, a+chunk)
		logits, err := j.sessions[w].Forward(j.x[a*j.per:b*j.per], b-a)
		if err == nil {
			var l float64
			var c int
			l, c, err = engine.CrossEntropy(logits, j.classes, j.labels[a:b])
			p.loss += l
			p.correct += c
		}
		if err != nil {
			p.err = err
			break
		}
	}
	j.parts[w] = p
}
