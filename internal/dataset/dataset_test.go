package dataset

import (
	"math"
	"slices"
	"testing"
)

// seq returns a dataset of n samples of shape, where value j of sample i is
// 1000*i + j and label i is i%10.
func seq(n int, shape ...int) *Dataset {
	s := product(shape)
	d := &Dataset{Name: "seq", X: make([]float32, n*s), Labels: make([]int, n), Shape: shape}
	for i := range n {
		for j := range s {
			d.X[i*s+j] = float32(1000*i + j)
		}
		d.Labels[i] = i % 10
	}
	return d
}

func TestFirst(t *testing.T) {
	d := seq(10, 2, 3)
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"one", 1, ""},
		{"some", 4, ""},
		{"all", 10, ""},
		{"zero", 0, "dataset: seq: a subset needs at least 1 sample, got 0"},
		{"negative", -3, "dataset: seq: a subset needs at least 1 sample, got -3"},
		{"too many", 11, "dataset: seq: asked for 11 samples but the dataset has only 10; lower the count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := d.First(tt.n)
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sub.Len() != tt.n || !slices.Equal(sub.X, d.X[:tt.n*6]) || !slices.Equal(sub.Labels, d.Labels[:tt.n]) || !slices.Equal(sub.Shape, d.Shape) {
				t.Fatalf("First(%d) = %d samples %v", tt.n, sub.Len(), sub.Labels)
			}
			if &sub.X[0] != &d.X[0] {
				t.Error("First copied X; it should share memory")
			}
			if cap(sub.X) != len(sub.X) || cap(sub.Labels) != len(sub.Labels) {
				t.Error("First's views can grow into the parent's data")
			}
		})
	}
}

func TestRandom(t *testing.T) {
	d := seq(100, 4)
	tests := []struct {
		name string
		n    int
		seed uint64
		want []int // sample indices; pinned so that a change of algorithm shows
	}{
		{"seed 0", 10, 0, []int{6, 16, 33, 46, 55, 67, 72, 73, 76, 99}},
		{"seed 1", 10, 1, []int{1, 2, 4, 17, 20, 52, 55, 66, 68, 91}},
		{"one", 1, 7, nil},
		{"all", 100, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := d.Random(tt.n, tt.seed)
			if err != nil {
				t.Fatal(err)
			}
			again, err := d.Random(tt.n, tt.seed)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sub.X, again.X) || !slices.Equal(sub.Labels, again.Labels) {
				t.Fatal("the same seed gave different subsets")
			}
			if sub.Len() != tt.n || !slices.Equal(sub.Shape, d.Shape) {
				t.Fatalf("Random(%d) has %d samples, shape %v", tt.n, sub.Len(), sub.Shape)
			}
			idx := make([]int, sub.Len())
			for i := range idx {
				idx[i] = int(sub.Sample(i)[0]) / 1000
				if !slices.Equal(sub.Sample(i), d.Sample(idx[i])) || sub.Labels[i] != d.Labels[idx[i]] {
					t.Fatalf("subset sample %d is not sample %d of the parent", i, idx[i])
				}
			}
			if !slices.IsSorted(idx) || len(slices.Compact(slices.Clone(idx))) != len(idx) {
				t.Fatalf("indices %v are not distinct and ascending", idx)
			}
			if tt.want != nil && !slices.Equal(idx, tt.want) {
				t.Errorf("indices %v, want %v", idx, tt.want)
			}
			sub.X[0] = -1
			if d.X[0] == -1 {
				t.Error("Random shares memory with the parent; it should copy")
			}
		})
	}
	if _, err := d.Random(101, 0); err == nil || err.Error() != "dataset: seq: asked for 101 samples but the dataset has only 100; lower the count" {
		t.Errorf("Random(101): %v", err)
	}
	a, _ := d.Random(10, 0)
	b, _ := d.Random(10, 1)
	if slices.Equal(a.Labels, b.Labels) && slices.Equal(a.X, b.X) {
		t.Error("seeds 0 and 1 gave the same subset")
	}
}

func TestCheckLabels(t *testing.T) {
	d := seq(12, 1) // labels 0..9, 0, 1
	tests := []struct {
		classes int
		want    string
	}{
		{10, ""},
		{11, ""},
		{9, "dataset: seq: sample 9 has label 9 but the model has 9 classes (labels 0 to 8); check that the dataset matches the model"},
		{0, "dataset: seq: the model has 0 classes; it needs at least 1"},
	}
	for _, tt := range tests {
		err := d.CheckLabels(tt.classes)
		if got := errString(err); got != tt.want {
			t.Errorf("CheckLabels(%d) = %q, want %q", tt.classes, got, tt.want)
		}
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		name  string
		model []int
		want  string
	}{
		{"add channel axis", []int{1, 28, 28}, ""},
		{"flatten", []int{784}, ""},
		{"same", []int{28, 28}, ""},
		{"mismatch", []int{1, 32, 32}, "dataset: seq: samples have shape [28 28] (784 values) but the model's input takes shape [1 32 32] (1024 values) per sample: the dataset does not fit the model's input"},
		{"dynamic dimension", []int{1, -1, 28}, "dataset: seq: the model's per-sample input shape [1 -1 28] has a dimension below 1; give it a fixed shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seq(2, 28, 28)
			err := d.Fit(tt.model)
			if got := errString(err); got != tt.want {
				t.Fatalf("Fit(%v) = %q, want %q", tt.model, got, tt.want)
			}
			want := tt.model
			if err != nil {
				want = []int{28, 28}
			}
			if !slices.Equal(d.Shape, want) || d.SampleLen() != 784 {
				t.Errorf("Shape %v SampleLen %d after Fit, want %v 784", d.Shape, d.SampleLen(), want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	// Two samples of 2 channels × 2 values: 0 1 2 3 and 1000 1001 1002 1003.
	tests := []struct {
		name     string
		tr       Transform
		channels int
		want     func(c int, x float64) float64
		err      string
	}{
		{"identity", Transform{}, 2, func(c int, x float64) float64 { return x }, ""},
		{"scale only", Transform{Scale: 0.5}, 1, func(c int, x float64) float64 { return x * 0.5 }, ""},
		{"broadcast", Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 2,
			func(c int, x float64) float64 { return (x/255 - 0.1307) / 0.3081 }, ""},
		{"per channel", Transform{Mean: []float64{1, 2}, Std: []float64{2, 4}}, 2,
			func(c int, x float64) float64 { return (x - float64(1+c)) / float64(2+2*c) }, ""},
		{"mean only", Transform{Mean: []float64{1, 2}}, 2, func(c int, x float64) float64 { return x - float64(1+c) }, ""},
		{"std broadcast, mean per channel", Transform{Mean: []float64{1, 2}, Std: []float64{2}}, 2,
			func(c int, x float64) float64 { return (x - float64(1+c)) / 2 }, ""},
		{"mean length", Transform{Mean: []float64{1, 2, 3}}, 2, nil,
			"dataset: seq: transform: mean has 3 values but the input has 2 channels; give one value per channel, or one for all"},
		{"std length", Transform{Std: []float64{1, 2}}, 4, nil,
			"dataset: seq: transform: std has 2 values but the input has 4 channels; give one value per channel, or one for all"},
		{"zero std", Transform{Std: []float64{1, 0}}, 2, nil,
			"dataset: seq: transform: std[1] is 0; a standard deviation must be a positive number"},
		{"nan mean", Transform{Mean: []float64{math.NaN()}}, 2, nil,
			"dataset: seq: transform: mean[0] is NaN; it must be a finite number"},
		{"negative scale", Transform{Scale: -1}, 2, nil,
			"dataset: seq: transform: scale is -1; it must be a positive number (or 0 for 1)"},
		{"indivisible", Transform{}, 3, nil,
			"dataset: seq: transform: a sample of 4 values (shape [2 2]) does not split into 3 channels"},
		{"no channels", Transform{}, 0, nil,
			"dataset: seq: transform: 0 channels; there must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seq(2, 2, 2)
			orig := slices.Clone(d.X)
			err := d.Apply(tt.tr, tt.channels)
			if got := errString(err); got != tt.err {
				t.Fatalf("Apply = %q, want %q", got, tt.err)
			}
			if err != nil {
				if !slices.Equal(d.X, orig) {
					t.Error("a failed Apply changed the data")
				}
				return
			}
			plane := 4 / tt.channels
			for i, x := range orig {
				c := (i % 4) / plane
				want := tt.want(c, float64(x))
				if math.Abs(float64(d.X[i])-want) > 1e-6*max(1, math.Abs(want)) {
					t.Errorf("X[%d] = %v, want %v (channel %d)", i, d.X[i], want, c)
				}
			}
		})
	}
}

func TestBatches(t *testing.T) {
	d := seq(10, 3)
	tests := []struct {
		size   int
		starts []int
		lens   []int
	}{
		{4, []int{0, 4, 8}, []int{4, 4, 2}},
		{5, []int{0, 5}, []int{5, 5}},
		{10, []int{0}, []int{10}},
		{256, []int{0}, []int{10}},
		{1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{0, []int{0}, []int{10}},
	}
	for _, tt := range tests {
		var starts, lens []int
		for i, b := range d.Batches(tt.size) {
			if i != len(starts) {
				t.Fatalf("size %d: batch index %d, want %d", tt.size, i, len(starts))
			}
			starts, lens = append(starts, b.Start), append(lens, b.Len())
			if len(b.X) != b.Len()*3 || !slices.Equal(b.X, d.X[b.Start*3:(b.Start+b.Len())*3]) || !slices.Equal(b.Labels, d.Labels[b.Start:b.Start+b.Len()]) {
				t.Fatalf("size %d: batch %d does not match the data", tt.size, i)
			}
		}
		if !slices.Equal(starts, tt.starts) || !slices.Equal(lens, tt.lens) || d.NumBatches(tt.size) != len(tt.starts) {
			t.Errorf("size %d: starts %v lens %v (NumBatches %d), want %v %v", tt.size, starts, lens, d.NumBatches(tt.size), tt.starts, tt.lens)
		}
	}
	for i := range d.Batches(3) {
		if i == 1 {
			break // stopping early must not panic
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.BatchAt(2, 4) }); n != 0 {
		t.Errorf("BatchAt allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range d.Batches(2) {
			_ = b
		}
	}); n > 1 {
		t.Errorf("iterating Batches allocates %v times", n)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func BenchmarkLoadMNISTTest(b *testing.B) {
	src := mnistSource("t10k")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(src, mnistDir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeNPY(b *testing.B) {
	d, err := Load(mnistSource("t10k"), mnistDir)
	if err != nil {
		b.Fatal(err)
	}
	x := make([][]float32, d.Len())
	for i := range x {
		x[i] = d.Sample(i)
	}
	xb := npyBytes(b, x)
	yb := npyBytes(b, convert[int64](d.Labels))
	b.SetBytes(int64(len(xb)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeNPY(xb, yb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRandom(b *testing.B) {
	d := seq(60000, 784)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Random(1024, 0); err != nil {
			b.Fatal(err)
		}
	}
}
