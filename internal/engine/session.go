package engine

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"unsafe"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// Session runs a Model on batches. It owns all buffers and is not safe for
// concurrent use: give each goroutine its own Session (they share the Model).
//
// A Session splits its work over a kernel.Team of kernel.Workers()
// goroutines, started by the first batch that needs them and stopped by
// Close, or, for a Session dropped without Close, when the garbage
// collector finds it unreachable. Once a batch size has run, running it
// again allocates nothing.
type Session[T Float] struct {
	m       *Model
	team    *kernel.Team
	states  map[int]*state[T]
	floatW  [][]T // per layer: the model's own weights in T
	weights [][]T // per layer: the weights in use (floatW unless replaced)
	quant   []*kernel.FakeQuant[T]
	ints    []*IntegerWeights // per layer: integer weights, or nil (integer.go)
	consts  map[string][][]T  // per constant, its values at the batch sizes so far (see state)
	last    *state[T]
	widest  int // bytes of the widest step's values per sample (Chunk); 0 until known
	// inference: Forward only, with a Relu that is a Conv's or an Add's
	// only consumer run inside it (NewInferenceSession).
	inference bool
	// noInputGrad: Backward leaves the input's gradient out
	// (SkipInputGradient).
	noInputGrad bool
}

// SkipInputGradient makes Backward leave the gradient of the model's input
// uncomputed (Grad of the input is then nil): the sensitivity passes need
// the weights' gradients alone, and the input's costs as much as the first
// layer's forward pass (most of an MLP's arithmetic is its first layer).
// It takes effect for batch sizes whose first Backward comes after it.
func (s *Session[T]) SkipInputGradient() { s.noInputGrad = true }

// NewInferenceSession returns a Session for Forward alone: a Relu that is
// the only consumer of a Conv's output runs inside the convolution, on each
// image while it is in cache, and one that is the only consumer of an Add
// of two same-shaped values runs in the Add's loop, instead of in passes
// of their own over the batch (the results are bit for bit the same). The
// Conv's or Add's output then holds the Relu's values, so Activation of it
// does too; Backward,
// BackwardLayer, Frontier, FrontierSize and ForwardSuffix return an error.
func NewInferenceSession[T Float](m *Model) *Session[T] {
	return NewInferenceSessionWorkers[T](m, 0)
}

// NewInferenceSessionWorkers is NewInferenceSession with a Team of workers
// goroutines (kernel.Workers() when workers < 1). One worker computes on
// the calling goroutine alone: several such sessions, each on its own part
// of a batch, keep the cores busier than one session splitting every
// kernel, whose small loops wait for each other.
func NewInferenceSessionWorkers[T Float](m *Model, workers int) *Session[T] {
	s := newSession[T](m, workers)
	s.inference = true
	return s
}

// errInference is the error of the backward and suffix methods of an
// inference session.
func errInference(method string) error {
	return fmt.Errorf("engine: %s on an inference session (NewInferenceSession): use NewSession", method)
}

// NewSession returns a Session computing in T (float32 or float64).
func NewSession[T Float](m *Model) *Session[T] { return newSession[T](m, 0) }

func newSession[T Float](m *Model, workers int) *Session[T] {
	s := &Session[T]{m: m, team: kernel.NewTeam(workers), states: map[int]*state[T]{}, consts: map[string][][]T{},
		quant: make([]*kernel.FakeQuant[T], len(m.Layers)), ints: make([]*IntegerWeights, len(m.Layers))}
	// The Team's goroutines refer to its channels only, so s can become
	// unreachable while they run; then they are stopped.
	runtime.AddCleanup(s, (*kernel.Team).Close, s.team)
	for _, l := range m.Layers {
		w := toT[T](m.Graph.Init[l.Weight].Floats())
		s.floatW = append(s.floatW, w)
		s.weights = append(s.weights, w)
	}
	return s
}

// Close stops the goroutines of the session's Team. The Session stays
// usable: a later batch starts them again. Close is optional (a dropped
// Session is cleaned up by the garbage collector) but frees them at once.
func (s *Session[T]) Close() { s.team.Close() }

// Model returns the session's model.
func (s *Session[T]) Model() *Model { return s.m }

func toT[T Float](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// state is a program with its buffers.
type state[T Float] struct {
	p       *program[T]
	sess    *Session[T]
	data    [][]T
	grad    [][]T
	scratch [3][]T
	n       int
	intRan  []bool        // per layer: computed in integers by the last Forward
	ew      ewJob[T]      // the elementwise loop running (parallel.go)
	sgrad   map[int][][]T // per layer: the gradient buffers of its suffix (suffix.go)
}

func (st *state[T]) inQuant(layer int) *kernel.FakeQuant[T] {
	if layer < 0 {
		return nil
	}
	return st.sess.quant[layer]
}

// scratchFor returns a scratch slice as long as dst (nil when dst is nil):
// kernels that overwrite write there, and accumulate adds it into dst.
func (st *state[T]) scratchFor(dst []T, slot int) []T {
	if dst == nil {
		return nil
	}
	if cap(st.scratch[slot]) < len(dst) {
		st.scratch[slot] = make([]T, len(dst))
	}
	return st.scratch[slot][:len(dst)]
}

func (st *state[T]) accumulate(dst []T, slot int) {
	if dst == nil {
		return
	}
	st.parallel(len(dst), 1<<15, ewJob[T]{kind: ewAccumulate, a: st.scratch[slot][:len(dst)], y: dst})
}

func (s *Session[T]) state(n int) (*state[T], error) {
	if st, ok := s.states[n]; ok {
		return st, nil
	}
	p, err := compile[T](s.m, n, s.inference)
	if err != nil {
		return nil, err
	}
	st := &state[T]{p: p, sess: s, n: n, data: make([][]T, len(p.names)), intRan: make([]bool, len(s.m.Layers))}
	isW := map[int]int{}
	for l, wi := range p.layerW {
		isW[wi] = l
	}
	for i := range p.names {
		if p.alias[i] != i {
			continue
		}
		if l, ok := isW[i]; ok {
			st.data[i] = s.weights[l]
			continue
		}
		if t := p.consts[i]; t != nil {
			// A constant can depend on the batch (an Expand to
			// x.shape[0], a class token broadcast over the batch): the
			// states share a constant's values only where they are equal.
			c := toT[T](t.Floats())
			name := p.names[i]
			if j := slices.IndexFunc(s.consts[name], func(v []T) bool { return slices.Equal(v, c) }); j >= 0 {
				c = s.consts[name][j]
			} else {
				s.consts[name] = append(s.consts[name], c)
			}
			st.data[i] = c
			continue
		}
		st.data[i] = make([]T, graph.NumElements(p.shapes[i]))
	}
	for i := range p.names {
		st.data[i] = st.data[p.alias[i]]
	}
	s.states[n] = st
	return st, nil
}

// Forward runs the model on n samples x (n × the per-sample input size, in
// the model's input layout) and returns the logits (n × Classes). The
// returned slice belongs to the session and is overwritten by the next call.
func (s *Session[T]) Forward(x []T, n int) ([]T, error) {
	if n < 1 {
		return nil, fmt.Errorf("engine: batch size %d: want at least 1", n)
	}
	per := graph.NumElements(s.m.InputShape[1:])
	if len(x) != n*per {
		return nil, fmt.Errorf("engine: input has %d values, want %d samples × %d (shape %s): %w", len(x), n, per, graph.ShapeString(s.m.InputShape), ErrShape)
	}
	st, err := s.state(n)
	if err != nil {
		return nil, err
	}
	copy(st.data[st.p.input], x)
	clear(st.intRan)
	for _, stp := range st.p.steps {
		stp.forward(st)
	}
	s.last = st
	return st.data[st.p.output], nil
}

// chunkCacheBytes is the per-sample working set, summed over a chunk of
// samples, that Chunk keeps within: half of a core's own (L2) cache on
// the x86 servers mpq runs on (512 KiB to 2 MiB per core).
const chunkCacheBytes = 512 << 10

// minChunk is the smallest chunk Chunk returns: below it the steps' fixed
// costs (packing, dispatch) outweigh the cache they save.
const minChunk = 8

// Chunk returns the batch size at which to call Forward for a batch of n
// samples: n itself, unless the widest step's inputs and outputs for all n
// samples overflow a core's cache, as a convolutional network's feature
// maps do. Then each value would go out to memory between one step and the
// next, and Forward runs fastest on chunks of about chunkCacheBytes of
// working set (at least minChunk samples), evenly sized, each passing
// through the whole network while it stays in cache. The results are the
// same whatever the chunk: every step computes each sample on its own.
func (s *Session[T]) Chunk(n int) (int, error) {
	if s.widest == 0 {
		st, err := s.state(1)
		if err != nil {
			return 0, err
		}
		var z T
		size := int(unsafe.Sizeof(z))
		p := st.p
		perSample := slices.Clone(p.dynamic) // the values computed per batch, less the weights
		for _, w := range p.layerW {
			if w >= 0 {
				perSample[w] = false
			}
		}
		for i := range p.steps {
			bytes := 0
			for _, vs := range [][]int{p.stepIns[i], p.stepOuts[i]} {
				for _, v := range vs {
					if v >= 0 && perSample[v] {
						bytes += graph.NumElements(p.shapes[v]) * size
					}
				}
			}
			s.widest = max(s.widest, bytes, 1)
		}
	}
	c := max(minChunk, chunkCacheBytes/s.widest)
	if c >= n {
		return n, nil
	}
	parts := (n + c - 1) / c
	return (n + parts - 1) / parts, nil
}

// Backward computes the mean cross-entropy of the last Forward's logits
// against labels, and the gradient of that loss with respect to every layer
// weight and every activation. It returns the loss.
func (s *Session[T]) Backward(labels []int) (float64, error) {
	return s.backward(labels, -1)
}

// BackwardLayer is Backward for layer l's weight gradient alone: it runs
// the backward pass of the steps that layer l's weight reaches (its
// suffix, see ForwardSuffix) and no others, so the gradients of values
// outside the suffix and of other layers' weights are left unset (and
// WeightGrad of those layers is stale). A Hessian-vector product
// restricted to one layer needs no more. Layer l's gradient is bit for bit
// Backward's: the skipped steps only add into gradients of values that do
// not depend on layer l.
func (s *Session[T]) BackwardLayer(labels []int, l int) (float64, error) {
	return s.backward(labels, l)
}

// backward runs the backward pass of every step, or, for layer ≥ 0 with
// a step that computes it, of layer's suffix.
func (s *Session[T]) backward(labels []int, layer int) (float64, error) {
	if s.inference {
		return 0, errInference("Backward")
	}
	st := s.last
	if st == nil {
		return 0, fmt.Errorf("engine: Backward before Forward")
	}
	if len(labels) != st.n {
		return 0, fmt.Errorf("engine: %d labels for a batch of %d", len(labels), st.n)
	}
	for l, ran := range st.intRan {
		if ran {
			return 0, fmt.Errorf("engine: Backward after a Forward that computed layer %q in integer arithmetic, which has no gradient", s.m.Layers[l].Name)
		}
	}
	p := st.p
	if st.grad == nil {
		st.grad = make([][]T, len(p.names))
		for i := range p.names {
			if p.dynamic[i] && p.alias[i] == i && !(s.noInputGrad && i == p.input) {
				st.grad[i] = make([]T, graph.NumElements(p.shapes[i]))
			}
		}
		for i := range p.names {
			st.grad[i] = st.grad[p.alias[i]]
		}
	}
	grad := st.grad
	sf := p.suffixOf(layer)
	if layer >= 0 && sf != nil {
		grad = st.suffixGrad(layer, sf)
	}
	for i, g := range grad {
		if g != nil && p.alias[i] == i {
			clear(g)
		}
	}
	logits := st.data[p.output]
	loss, _, err := crossEntropy(logits, s.m.Classes, labels, grad[p.output])
	if err != nil {
		return 0, err
	}
	if layer >= 0 && sf != nil {
		full := st.grad
		st.grad = grad
		for k := len(sf.steps) - 1; k >= 0; k-- {
			p.steps[sf.steps[k]].backward(st)
		}
		st.grad = full
		return loss, nil
	}
	for i := len(p.steps) - 1; i >= 0; i-- {
		p.steps[i].backward(st)
	}
	return loss, nil
}

// crossEntropy returns the mean cross-entropy and the number of correct
// top-1 predictions; when grad is non-nil it receives d(mean loss)/d(logits).
func crossEntropy[T Float](logits []T, k int, labels []int, grad []T) (float64, int, error) {
	n := len(labels)
	total := 0.0
	correct := 0
	for i, lab := range labels {
		if lab < 0 || lab >= k {
			return 0, 0, fmt.Errorf("engine: label %d of sample %d is outside the model's %d classes", lab, i, k)
		}
		row := logits[i*k : (i+1)*k]
		mx := math.Inf(-1)
		arg := 0
		for j, v := range row {
			if float64(v) > mx {
				mx, arg = float64(v), j
			}
		}
		if arg == lab {
			correct++
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(sum)
		total += lse - float64(row[lab])
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			for j, v := range row {
				g[j] = T(math.Exp(float64(v)-lse) / float64(n))
			}
			g[lab] -= T(1 / float64(n))
		}
	}
	return total / float64(n), correct, nil
}

// CrossEntropy returns the summed cross-entropy of logits (n × k) against
// labels and the number of correct top-1 predictions (first maximum wins).
func CrossEntropy[T Float](logits []T, k int, labels []int) (sum float64, correct int, err error) {
	mean, c, err := crossEntropy[T](logits, k, labels, nil)
	return mean * float64(len(labels)), c, err
}

// WeightGrad returns layer l's weight gradient from the last Backward.
func (s *Session[T]) WeightGrad(l int) []T {
	if s.last == nil || s.last.grad == nil {
		return nil
	}
	return s.last.grad[s.last.p.layerW[l]]
}

// InputGrad returns the gradient with respect to layer l's input activation.
func (s *Session[T]) InputGrad(l int) []T {
	if s.last == nil || s.last.grad == nil || s.last.p.layerIn[l] < 0 {
		return nil
	}
	return s.last.grad[s.last.p.layerIn[l]]
}

// Activation returns the named value from the last Forward (nil if unknown).
func (s *Session[T]) Activation(name string) []T {
	if s.last == nil {
		return nil
	}
	i, ok := s.last.p.index[name]
	if !ok {
		return nil
	}
	return s.last.data[i]
}

// Grad returns the gradient of the named value from the last Backward.
func (s *Session[T]) Grad(name string) []T {
	if s.last == nil || s.last.grad == nil {
		return nil
	}
	i, ok := s.last.p.index[name]
	if !ok {
		return nil
	}
	return s.last.grad[i]
}

// LayerInput returns layer l's input activation from the last Forward.
func (s *Session[T]) LayerInput(l int) []T {
	if s.last == nil || s.last.p.layerIn[l] < 0 {
		return nil
	}
	return s.last.data[s.last.p.layerIn[l]]
}

// FloatWeight returns layer l's own (unquantized) weight. Do not modify it.
func (s *Session[T]) FloatWeight(l int) []T { return s.floatW[l] }

// Weight returns the weight layer l currently computes with.
func (s *Session[T]) Weight(l int) []T { return s.weights[l] }

// SetWeight makes layer l compute with w (used as is, not copied, until the
// next SetWeight); nil restores the model's own weight.
func (s *Session[T]) SetWeight(l int, w []T) {
	if w == nil {
		w = s.floatW[l]
	}
	if len(w) != len(s.floatW[l]) {
		panic(fmt.Sprintf("engine: SetWeight: layer %d has %d weights, got %d", l, len(s.floatW[l]), len(w)))
	}
	s.weights[l] = w
	for _, st := range s.states {
		st.data[st.p.layerW[l]] = w
	}
}

// SetInputQuant fake-quantizes layer l's input as the layer reads it (other
// readers of the same tensor see it unquantized, as with a QDQ pair placed in
// front of the layer); nil turns it off.
func (s *Session[T]) SetInputQuant(l int, q *kernel.FakeQuant[T]) { s.quant[l] = q }
