package sensitivity

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/graph"
	"mpq/internal/onnxio"
)

// repo is the repository root.
var repo = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// loadShipped loads testdata/models/<name>.onnx.
func loadShipped(t testing.TB, name string) *engine.Model {
	t.Helper()
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mnistTrain returns the first n MNIST training images, normalised as in
// configs/lenet.yaml and fitted to m: the sensitivity subset of the
// goldens and benchmarks.
func mnistTrain(t testing.TB, m *engine.Model, n int) *dataset.Dataset {
	return mnist(t, m, "train", n)
}

// mnistTest is mnistTrain on the test images (a sixth of the training
// set's size, so quicker to read).
func mnistTest(t testing.TB, m *engine.Model, n int) *dataset.Dataset {
	return mnist(t, m, "t10k", n)
}

func mnist(t testing.TB, m *engine.Model, split string, n int) *dataset.Dataset {
	t.Helper()
	d, err := dataset.Load(dataset.Source{Format: "idx",
		Images: split + "-images-idx3-ubyte.gz", Labels: split + "-labels-idx1-ubyte.gz"}, filepath.Join(repo, "testdata/mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err = d.First(n); err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(m.SampleShape()); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(dataset.Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 1); err != nil {
		t.Fatal(err)
	}
	return d
}

// builder assembles small graphs for tests (after internal/engine's).
type builder struct {
	g   *graph.Graph
	rng *rand.Rand
	k   int
}

func newBuilder(inShape []int, seed uint64) *builder {
	return &builder{
		g: &graph.Graph{Opset: 13, Init: map[string]*graph.Tensor{},
			Inputs: []graph.ValueInfo{{Name: "x", DType: graph.Float32, Shape: append([]int{-1}, inShape...)}}},
		rng: rand.New(rand.NewPCG(seed, 2)),
	}
}

func (b *builder) name(p string) string {
	b.k++
	return fmt.Sprintf("%s%d", p, b.k)
}

func (b *builder) init(shape []int, scale float64) string {
	n := b.name("w")
	t := &graph.Tensor{Name: n, DType: graph.Float32, Shape: shape, Float: make([]float64, graph.NumElements(shape))}
	for i := range t.Float {
		t.Float[i] = b.rng.NormFloat64() * scale
	}
	b.g.Init[n] = t
	b.g.InitOrder = append(b.g.InitOrder, n)
	return n
}

func (b *builder) node(op string, attrs map[string]graph.Attr, ins ...string) string {
	out := b.name("v")
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: b.name(op), Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *builder) finish(t testing.TB, out string) *engine.Model {
	t.Helper()
	flat := b.node("Flatten", nil, out)
	b.g.Outputs = []graph.ValueInfo{{Name: flat}}
	m, err := engine.New(b.g)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func intAttr(v int64) graph.Attr { return graph.Attr{Kind: graph.AttrInt, Int: v} }

// tinyNet is a small network with its data, for exact checks.
type tinyNet struct {
	name string
	in   []int
	net  func(b *builder, x string) string
}

// tinyNets covers the layer kinds (Gemm with and without transB, MatMul,
// Conv), pooling, and an activation read by two consumers (a residual Add).
// Their activations are smooth on purpose: finite differences of the loss
// (the oracle) are only exact where the loss is smooth, and ReLU or MaxPool
// kinks lie within 1e-4 of the weights of even a tiny network (a MaxPool
// window's two largest inputs come that close). Piecewise-linear networks
// are checked against PyTorch's double backprop instead (golden_test.go).
func tinyNets() []tinyNet {
	transB := map[string]graph.Attr{"transB": intAttr(1)}
	return []tinyNet{
		{"gemm-tanh", []int{4}, func(b *builder, x string) string {
			h := b.node("Tanh", nil, b.node("Gemm", transB, x, b.init([]int{5, 4}, 0.7), b.init([]int{5}, 0.1)))
			return b.node("Gemm", nil, h, b.init([]int{5, 3}, 0.7), b.init([]int{3}, 0.1))
		}},
		{"conv-tanh-avgpool", []int{1, 6, 6}, func(b *builder, x string) string {
			c := b.node("Conv", map[string]graph.Attr{"pads": {Kind: graph.AttrInts, Ints: []int64{1, 1, 1, 1}}}, x, b.init([]int{2, 1, 3, 3}, 0.5), b.init([]int{2}, 0.1))
			p := b.node("AveragePool", map[string]graph.Attr{"kernel_shape": {Kind: graph.AttrInts, Ints: []int64{2, 2}}, "strides": {Kind: graph.AttrInts, Ints: []int64{2, 2}}}, b.node("Tanh", nil, c))
			return b.node("Gemm", transB, b.node("Flatten", nil, p), b.init([]int{3, 18}, 0.4), b.init([]int{3}, 0.1))
		}},
		{"residual-sigmoid", []int{5}, func(b *builder, x string) string {
			r := b.node("Sigmoid", nil, b.node("Gemm", transB, x, b.init([]int{4, 5}, 0.8), b.init([]int{4}, 0.1)))
			s := b.node("MatMul", nil, r, b.init([]int{4, 4}, 0.8))
			t := b.node("Add", nil, s, r)
			return b.node("Gemm", transB, t, b.init([]int{3, 4}, 0.8), b.init([]int{3}, 0.1))
		}},
	}
}

// build returns the model and n random samples with labels.
func (tn tinyNet) build(t testing.TB, n int) (*engine.Model, *dataset.Dataset) {
	t.Helper()
	b := newBuilder(tn.in, 7)
	m := b.finish(t, tn.net(b, "x"))
	rng := rand.New(rand.NewPCG(11, 13))
	per := graph.NumElements(tn.in)
	d := &dataset.Dataset{Name: tn.name, X: make([]float32, n*per), Labels: make([]int, n), Shape: tn.in}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for i := range d.Labels {
		d.Labels[i] = rng.IntN(m.Classes)
	}
	return m, d
}

// flatWeights returns every layer weight concatenated, and the offsets of
// the layers in it.
func flatWeights(m *engine.Model) ([]float64, []int) {
	var w []float64
	var off []int
	for _, l := range m.Layers {
		off = append(off, len(w))
		w = append(w, m.Graph.Init[l.Weight].Floats()...)
	}
	return w, append(off, len(w))
}

// lossAt returns the subset loss as a function of the concatenated weights.
func lossAt(t testing.TB, m *engine.Model, d *dataset.Dataset) func([]float64) float64 {
	s := engine.NewSession[float64](m)
	_, off := flatWeights(m)
	x := toFloat64(nil, d.X)
	return func(w []float64) float64 {
		for l := range m.Layers {
			s.SetWeight(l, w[off[l]:off[l+1]])
		}
		z, err := s.Forward(x, d.Len())
		if err != nil {
			t.Fatal(err)
		}
		sum, _, err := engine.CrossEntropy(z, m.Classes, d.Labels)
		if err != nil {
			t.Fatal(err)
		}
		return sum / float64(d.Len())
	}
}

// exactHessian is the Hessian of the subset loss with respect to all layer
// weights, by gonum's central differences of central differences of the loss
// (step 1e-4: truncation and rounding errors both near 1e-8).
func exactHessian(t testing.TB, m *engine.Model, d *dataset.Dataset) (*mat.SymDense, []int) {
	w, off := flatWeights(m)
	h := mat.NewSymDense(len(w), nil)
	fd.Hessian(h, lossAt(t, m, d), w, &fd.Settings{Formula: fd.Central, Step: 1e-4})
	return h, off
}
