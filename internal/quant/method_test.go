package quant

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Method
		err  bool
	}{
		{"uniform", Uniform, false},
		{"binary", Binary, false},
		{"ternary", Ternary, false},
		{"kmeans", KMeans, false},
		{"kmeans-hessian", KMeansHessian, false},
		{"pow2", Pow2, false},
		{"  KMeans ", KMeans, false},
		{"", "", true},
		{"kmeans_hessian", "", true},
		{"int8", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMethod(tc.in)
			if tc.err {
				if !errors.Is(err, ErrUnknownMethod) {
					t.Fatalf("err = %v, want ErrUnknownMethod", err)
				}
				for _, m := range Methods() {
					if !strings.Contains(err.Error(), string(m)) {
						t.Errorf("error %q does not list %q", err, m)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMethod(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	want := []Method{Uniform, Binary, Ternary, KMeans, KMeansHessian, Pow2}
	got := Methods()
	if !slices.Equal(got, want) {
		t.Fatalf("Methods() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Methods()[0] != Uniform {
		t.Fatal("Methods returns shared state")
	}
}

func TestValidateAndEffectiveBits(t *testing.T) {
	for _, tc := range []struct {
		spec    WeightSpec
		err     error
		eff     int
		display string
	}{
		{WeightSpec{Uniform, 8}, nil, 8, "uniform/8"},
		{WeightSpec{Uniform, 1}, nil, 1, "uniform/1"},
		{WeightSpec{Uniform, 16}, nil, 16, "uniform/16"},
		{WeightSpec{Uniform, 32}, nil, 32, "float"},
		{WeightSpec{Binary, 1}, nil, 1, "binary/1"},
		{WeightSpec{Binary, 8}, nil, 1, "binary/8"},
		{WeightSpec{Binary, 32}, nil, 32, "float"},
		{WeightSpec{Ternary, 2}, nil, 2, "ternary/2"},
		{WeightSpec{Ternary, 5}, nil, 2, "ternary/5"},
		{WeightSpec{KMeans, 4}, nil, 4, "kmeans/4"},
		{WeightSpec{KMeansHessian, 3}, nil, 3, "kmeans-hessian/3"},
		{WeightSpec{Pow2, 5}, nil, 5, "pow2/5"},
		{WeightSpec{Uniform, 0}, ErrBits, 0, ""},
		{WeightSpec{Uniform, 17}, ErrBits, 0, ""},
		{WeightSpec{Binary, -1}, ErrBits, 0, ""},
		{WeightSpec{Uniform, 31}, ErrBits, 0, ""},
		{WeightSpec{"", 8}, ErrUnknownMethod, 0, ""},
		{WeightSpec{"int", 8}, ErrUnknownMethod, 0, ""},
	} {
		t.Run(string(tc.spec.Method)+"/"+strconv.Itoa(tc.spec.Bits), func(t *testing.T) {
			err := tc.spec.Validate()
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				mustPanic(t, errInvalidSpec, func() { EffectiveBits(tc.spec) })
				return
			}
			if got := EffectiveBits(tc.spec); got != tc.eff {
				t.Errorf("EffectiveBits = %d, want %d", got, tc.eff)
			}
			if got := tc.spec.String(); got != tc.display {
				t.Errorf("String() = %q, want %q", got, tc.display)
			}
		})
	}
}

func TestWeightsErrors(t *testing.T) {
	w := []float64{1, 2, 3, 4}
	dst := make([]float64, 4)
	for _, tc := range []struct {
		name string
		w    []float64
		spec WeightSpec
		hess []float64
		want error
	}{
		{"bad bits", w, WeightSpec{Uniform, 0}, nil, ErrBits},
		{"bad method", w, WeightSpec{"lloyd", 4}, nil, ErrUnknownMethod},
		{"no hessian", w, WeightSpec{KMeansHessian, 2}, nil, ErrNoHessian},
		{"short hessian", w, WeightSpec{KMeansHessian, 2}, []float64{1, 1}, ErrNoHessian},
		{"NaN hessian", w, WeightSpec{KMeansHessian, 2}, []float64{1, math.NaN(), 1, 1}, ErrNonFinite},
		{"NaN weight", []float64{1, math.NaN(), 3, 4}, WeightSpec{Uniform, 8}, nil, ErrNonFinite},
		{"Inf weight", []float64{1, 2, math.Inf(-1), 4}, WeightSpec{KMeans, 2}, nil, ErrNonFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Weights(dst, tc.w, 2, tc.spec, tc.hess)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("hessian message", func(t *testing.T) {
		err := Weights(dst, w, 1, WeightSpec{KMeansHessian, 2}, nil)
		if err == nil || !strings.Contains(err.Error(), "Hessian-diagonal estimate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("float ignores NaN", func(t *testing.T) {
		src := []float64{1, math.NaN()}
		out := make([]float64, 2)
		if err := Weights(out, src, 1, WeightSpec{Uniform, 32}, nil); err != nil {
			t.Fatal(err)
		}
		if out[0] != 1 || !math.IsNaN(out[1]) {
			t.Fatalf("got %v", out)
		}
	})
}

func TestWeightsPanics(t *testing.T) {
	spec := WeightSpec{Uniform, 8}
	mustPanic(t, errDstLength, func() { _ = Weights(make([]float64, 3), make([]float64, 4), 1, spec, nil) })
	mustPanic(t, errChannels, func() { _ = Weights(make([]float64, 4), make([]float64, 4), 0, spec, nil) })
	mustPanic(t, errChannelsDivide, func() { _ = Weights(make([]float64, 4), make([]float64, 4), 3, spec, nil) })
}

// TestWeightsFloat checks that 32 bits copies, for every method.
func TestWeightsFloat(t *testing.T) {
	w := []float64{0.1, -2.5, 3e-9, 7}
	for _, m := range Methods() {
		t.Run(string(m), func(t *testing.T) {
			dst := make([]float64, len(w))
			if err := Weights(dst, w, 2, WeightSpec{m, 32}, nil); err != nil {
				t.Fatal(err)
			}
			sameFloats(t, dst, w, 0)
		})
	}
}

// TestWeightsAlias checks that dst may alias w, and that the allocation-free
// methods do not allocate.
func TestWeightsAlias(t *testing.T) {
	rng := newRand(7)
	w := normals(rng, 4*64, 0.1)
	hess := make([]float64, len(w))
	for i := range hess {
		hess[i] = rng.Float64()
	}
	for _, m := range Methods() {
		for _, bits := range []int{1, 2, 3, 8} {
			spec := WeightSpec{m, bits}
			t.Run(spec.String(), func(t *testing.T) {
				want := make([]float64, len(w))
				if err := Weights(want, w, 4, spec, hess); err != nil {
					t.Fatal(err)
				}
				got := append([]float64(nil), w...)
				if err := Weights(got, got, 4, spec, hess); err != nil {
					t.Fatal(err)
				}
				sameFloats(t, got, want, 0)
				if m == KMeans || m == KMeansHessian {
					return
				}
				dst := make([]float64, len(w))
				if a := testing.AllocsPerRun(10, func() { _ = Weights(dst, w, 4, spec, hess) }); a != 0 {
					t.Errorf("%v allocations per call, want 0", a)
				}
			})
		}
	}
}
