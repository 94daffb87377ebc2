package quant

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Method names a weight quantizer.
type Method string

// The weight quantizers. Each is described in the package documentation.
const (
	Uniform       Method = "uniform"
	Binary        Method = "binary"
	Ternary       Method = "ternary"
	KMeans        Method = "kmeans"
	KMeansHessian Method = "kmeans-hessian"
	Pow2          Method = "pow2"
)

// FloatBits is the bitwidth that means "leave the weights in floating point".
const FloatBits = 32

// MaxBits is the largest integer bitwidth a quantizer accepts.
const MaxBits = 16

// Sentinel errors, wrapped with context by the functions that return them.
var (
	// ErrUnknownMethod reports a method name that is not one of Methods().
	ErrUnknownMethod = errors.New("quant: unknown method")
	// ErrBits reports a bitwidth outside 1..MaxBits and other than FloatBits.
	ErrBits = errors.New("quant: invalid bitwidth")
	// ErrNoHessian reports a KMeansHessian request without importance weights.
	ErrNoHessian = errors.New("quant: kmeans-hessian requires a Hessian-diagonal estimate")
	// ErrNonFinite reports a NaN or infinite weight or importance.
	ErrNonFinite = errors.New("quant: non-finite value")
)

// Methods returns every weight quantizer, in a fixed order. The slice is new
// on each call; the caller may modify it.
func Methods() []Method {
	return []Method{Uniform, Binary, Ternary, KMeans, KMeansHessian, Pow2}
}

// ParseMethod returns the Method named s. Matching ignores case and
// surrounding space. The error wraps ErrUnknownMethod and lists the valid
// names.
func ParseMethod(s string) (Method, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, m := range Methods() {
		if string(m) == t {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w %q (valid: %s)", ErrUnknownMethod, s, methodList())
}

func methodList() string {
	ms := Methods()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

func (m Method) valid() bool {
	switch m {
	case Uniform, Binary, Ternary, KMeans, KMeansHessian, Pow2:
		return true
	}
	return false
}

// WeightSpec selects a weight quantizer. It is a plain value: the zero value
// is invalid, and Validate reports why.
//
// Bits == FloatBits (32) means "not quantized": Weights copies w to dst and
// EffectiveBits reports 32, whatever the Method. Otherwise Bits must be in
// 1..MaxBits. Binary ignores Bits (it always stores one bit per weight) and
// Ternary ignores it too (two bits per weight); for Uniform and Pow2, Bits == 1
// selects the binary quantizer.
type WeightSpec struct {
	Method Method
	Bits   int
}

// Validate reports whether s names a known method with an admissible
// bitwidth. Errors wrap ErrUnknownMethod or ErrBits.
func (s WeightSpec) Validate() error {
	if !s.Method.valid() {
		return fmt.Errorf("%w %q (valid: %s)", ErrUnknownMethod, string(s.Method), methodList())
	}
	if s.Bits != FloatBits && (s.Bits < 1 || s.Bits > MaxBits) {
		return fmt.Errorf("%w: %d bits for %s (want 1..%d, or %d for float)",
			ErrBits, s.Bits, s.Method, MaxBits, FloatBits)
	}
	return nil
}

// String returns "method/bits", or "float" when Bits is FloatBits.
func (s WeightSpec) String() string {
	if s.Bits == FloatBits {
		return "float"
	}
	return string(s.Method) + "/" + strconv.Itoa(s.Bits)
}

// EffectiveBits returns the storage bits per weight the cost model should
// count for s: 32 for float, 1 for Binary (and for Uniform or Pow2 at one
// bit), 2 for Ternary, Bits otherwise. Codebook storage of the k-means
// methods (2^Bits float values per layer) is not included. EffectiveBits
// panics if s is invalid: validate specs when they are read.
func EffectiveBits(s WeightSpec) int {
	if s.Validate() != nil {
		panic(errInvalidSpec)
	}
	switch {
	case s.Bits == FloatBits:
		return FloatBits
	case s.Method == Binary:
		return 1
	case s.Method == Ternary:
		return 2
	}
	return s.Bits
}

// Weights quantizes w into dst following s. The weights are laid out
// output-channel-major: channels rows of len(w)/channels values. hess is the
// per-weight importance (Hessian diagonal or squared gradient) for
// KMeansHessian, of the same length as w; other methods ignore it. Uniform,
// Binary and Ternary work per output channel; KMeans, KMeansHessian and Pow2
// (at 2 bits or more) work on the whole tensor, and channels then only
// checks the shape.
//
// dst may alias w. Weights allocates only for the k-means methods.
//
// Weights panics if len(dst) != len(w), channels < 1 or channels does not
// divide len(w). It returns an error wrapping ErrUnknownMethod or ErrBits for
// an invalid spec, ErrNoHessian when KMeansHessian gets no hess (or one of the
// wrong length), and ErrNonFinite when w or hess holds a NaN or an infinity.
func Weights(dst, w []float64, channels int, s WeightSpec, hess []float64) error {
	if len(dst) != len(w) {
		panic(errDstLength)
	}
	checkChannels(len(w), channels)
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Bits == FloatBits {
		copy(dst, w)
		return nil
	}
	if i := firstNonFinite(w); i >= 0 {
		return fmt.Errorf("%w: weight %d is %v", ErrNonFinite, i, w[i])
	}
	switch s.Method {
	case Uniform:
		uniform(dst, w, channels, s.Bits)
	case Binary:
		binary(dst, w, channels)
	case Ternary:
		ternary(dst, w, channels)
	case KMeans:
		kmeansInto(dst, w, s.Bits, nil)
	case KMeansHessian:
		if hess == nil {
			return fmt.Errorf("%w: got none (run the sensitivity pass first)", ErrNoHessian)
		}
		if len(hess) != len(w) {
			return fmt.Errorf("%w: got %d values for %d weights", ErrNoHessian, len(hess), len(w))
		}
		if i := firstNonFinite(hess); i >= 0 {
			return fmt.Errorf("%w: Hessian estimate %d is %v", ErrNonFinite, i, hess[i])
		}
		kmeansInto(dst, w, s.Bits, hess)
	case Pow2:
		if s.Bits == 1 {
			binary(dst, w, channels)
		} else {
			pow2(dst, w, s.Bits)
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in x, or -1.
func firstNonFinite(x []float64) int {
	// v-v is NaN exactly when v is NaN or ±Inf; the sum stays 0 otherwise.
	var acc float64
	for _, v := range x {
		acc += v - v
	}
	if acc == 0 {
		return -1
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return i
		}
	}
	return -1
}

// checkChannels panics unless channels ≥ 1 divides n.
func checkChannels(n, channels int) {
	if channels < 1 {
		panic(errChannels)
	}
	if n%channels != 0 {
		panic(errChannelsDivide)
	}
}
