package dataset

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
)

// Dataset is a labelled dataset held in memory.
type Dataset struct {
	// Name says where the data came from (a file path, or a split and a
	// path); it prefixes error messages.
	Name string
	// X holds Len()*SampleLen() input values, sample-major.
	X []float32
	// Labels holds one class index per sample.
	Labels []int
	// Shape is the per-sample shape: as stored in the file (IDX: [28 28];
	// NPY/NPZ: the array shape without its first axis) until [Dataset.Fit]
	// replaces it with the model's per-sample input shape.
	Shape []int
}

// Len returns the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// SampleLen returns the number of input values per sample.
func (d *Dataset) SampleLen() int {
	if n := len(d.Labels); n > 0 {
		return len(d.X) / n
	}
	return product(d.Shape)
}

// Sample returns the inputs of sample i, a view into X. It panics if i is
// out of range, like a slice index.
func (d *Dataset) Sample(i int) []float32 {
	s := d.SampleLen()
	return d.X[i*s : (i+1)*s : (i+1)*s]
}

// Batch is a run of consecutive samples: views into a [Dataset]'s X and
// Labels, valid as long as the Dataset is.
type Batch struct {
	// Start is the index of the batch's first sample in the Dataset.
	Start int
	// X holds Len()*SampleLen values.
	X []float32
	// Labels holds the batch's labels.
	Labels []int
}

// Len returns the number of samples in the batch.
func (b Batch) Len() int { return len(b.Labels) }

// NumBatches returns how many batches of the given size cover the dataset;
// the last one may be short. A size below 1 means one batch of everything.
func (d *Dataset) NumBatches(size int) int {
	n := d.Len()
	if n == 0 {
		return 0
	}
	if size < 1 || size >= n {
		return 1
	}
	return (n + size - 1) / size
}

// BatchAt returns batch i of the given size (the last one may be short),
// without allocating. A size below 1 means one batch of everything. It panics
// if i is not in [0, NumBatches(size)), like a slice index.
func (d *Dataset) BatchAt(i, size int) Batch {
	n := d.Len()
	if size < 1 {
		size = max(n, 1)
	}
	start := i * size
	end := min(start+size, n)
	if i < 0 || start >= n {
		panic(fmt.Sprintf("dataset: batch index %d out of range [0, %d)", i, d.NumBatches(size)))
	}
	s := d.SampleLen()
	return Batch{
		Start:  start,
		X:      d.X[start*s : end*s : end*s],
		Labels: d.Labels[start:end:end],
	}
}

// Batches iterates over the batches of the given size in order, yielding
// each batch's index and the batch. It allocates nothing per batch. A size
// below 1 means one batch of everything.
func (d *Dataset) Batches(size int) iter.Seq2[int, Batch] {
	return func(yield func(int, Batch) bool) {
		for i := range d.NumBatches(size) {
			if !yield(i, d.BatchAt(i, size)) {
				return
			}
		}
	}
}

// First returns the first n samples in file order. The result shares memory
// with d.
func (d *Dataset) First(n int) (*Dataset, error) {
	if err := d.checkCount(n); err != nil {
		return nil, err
	}
	s := d.SampleLen()
	return &Dataset{
		Name:   d.Name,
		X:      d.X[: n*s : n*s],
		Labels: d.Labels[:n:n],
		Shape:  slices.Clone(d.Shape),
	}, nil
}

// pcgStream is xor-ed with the seed to form PCG's second word, so that seed
// 0 does not give the all-zero state.
const pcgStream = 0x9e3779b97f4a7c15

// Random returns n samples drawn without replacement by a generator seeded
// with seed; the same seed gives the same samples on every run and platform.
// The chosen samples keep their file order. The result is a copy.
func (d *Dataset) Random(n int, seed uint64) (*Dataset, error) {
	if err := d.checkCount(n); err != nil {
		return nil, err
	}
	idx := randomIndices(d.Len(), n, seed)
	s := d.SampleLen()
	out := &Dataset{
		Name:   d.Name,
		X:      make([]float32, 0, n*s),
		Labels: make([]int, 0, n),
		Shape:  slices.Clone(d.Shape),
	}
	for _, i := range idx {
		out.X = append(out.X, d.X[i*s:(i+1)*s]...)
		out.Labels = append(out.Labels, d.Labels[i])
	}
	return out, nil
}

// randomIndices returns n distinct indices in [0, total), sorted ascending,
// chosen by a partial Fisher–Yates shuffle.
func randomIndices(total, n int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, seed^pcgStream))
	perm := make([]int, total)
	for i := range perm {
		perm[i] = i
	}
	for i := range n {
		j := i + int(rng.Uint64N(uint64(total-i)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	idx := perm[:n]
	slices.Sort(idx)
	return idx
}

func (d *Dataset) checkCount(n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("dataset: %s: a subset needs at least 1 sample, got %d", d.Name, n)
	case n > d.Len():
		return fmt.Errorf("dataset: %s: asked for %d samples but the dataset has only %d; lower the count", d.Name, n, d.Len())
	}
	return nil
}

// CheckLabels reports an error if a label is not a class index of a model
// with the given number of classes.
func (d *Dataset) CheckLabels(classes int) error {
	if classes < 1 {
		return fmt.Errorf("dataset: %s: the model has %d classes; it needs at least 1", d.Name, classes)
	}
	for i, l := range d.Labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("dataset: %s: sample %d has label %d but the model has %d classes (labels 0 to %d); check that the dataset matches the model",
				d.Name, i, l, classes, classes-1)
		}
	}
	return nil
}

// Fit checks that a sample holds as many values as the model's per-sample
// input shape (for example [1 28 28] or [784]) and sets Shape to it.
func (d *Dataset) Fit(modelSample []int) error {
	for _, v := range modelSample {
		if v < 1 {
			return fmt.Errorf("dataset: %s: the model's per-sample input shape %v has a dimension below 1; give it a fixed shape", d.Name, modelSample)
		}
	}
	want, ok := checkedProduct(modelSample)
	if have := d.SampleLen(); !ok || want != have {
		return fmt.Errorf("dataset: %s: samples have shape %v (%d values) but the model's input takes shape %v (%d values) per sample: the dataset does not fit the model's input",
			d.Name, d.Shape, have, modelSample, want)
	}
	d.Shape = slices.Clone(modelSample)
	return nil
}

// validate checks the invariants of a freshly loaded dataset.
func (d *Dataset) validate() error {
	if d.Len() == 0 {
		return fmt.Errorf("dataset: %s: the dataset is empty (0 samples)", d.Name)
	}
	s := product(d.Shape)
	if s == 0 {
		return fmt.Errorf("dataset: %s: samples have shape %v, which holds no values", d.Name, d.Shape)
	}
	if len(d.X) != d.Len()*s {
		return fmt.Errorf("dataset: %s: %d input values do not make %d samples of shape %v", d.Name, len(d.X), d.Len(), d.Shape)
	}
	for i, l := range d.Labels {
		if l < 0 {
			return fmt.Errorf("dataset: %s: sample %d has label %d; labels must be class indices 0, 1, 2, ...", d.Name, i, l)
		}
	}
	return nil
}

// checkFinite reports the first sample holding a NaN or an infinity.
func (d *Dataset) checkFinite() error {
	s := d.SampleLen()
	for i, v := range d.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("dataset: %s: sample %d has a non-finite input value (%v at element %d); clean the data (for example numpy.nan_to_num) first",
				d.Name, i/s, v, i%s)
		}
	}
	return nil
}

// product returns the product of dims (1 for none). It assumes no overflow;
// use checkedProduct for untrusted dimensions.
func product(dims []int) int {
	n := 1
	for _, v := range dims {
		n *= v
	}
	return n
}

// checkedProduct returns the product of non-negative dims and whether it
// stayed within maxElements.
func checkedProduct(dims []int) (int, bool) {
	n := 1
	for _, v := range dims {
		if v < 0 {
			return 0, false
		}
		if v == 0 {
			n = 0
			continue
		}
		if n > maxElements/v {
			return 0, false
		}
		n *= v
	}
	return n, true
}
