package evaluator

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

// TestBatchSplit checks that an evaluation, which splits every batch into
// one contiguous part per worker and runs each part on that worker's own
// single-threaded session, in chunks of Session.Chunk samples (13 here on
// both models, so batches 64 and 301 run in chunks), scores exactly what
// whole batches run on one
// session score: the same correct count, and the same loss up to the order
// of the float64 additions. It runs with one to three workers, with batch
// sizes that do and do not divide the data (the last batch then holds
// fewer samples than there are workers for batch 7), with a w8a8 and a
// mixed plan, in fake-quant and in integer arithmetic, on LeNet and the
// residual CNN.
func TestBatchSplit(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"lenet", "resnet"} {
		m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		data := loadMNISTTest(t, m, 301)
		calib, err := Calibrate(ctx, m, data, MinMax, 0, 128)
		if err != nil {
			t.Fatal(err)
		}
		for _, procs := range []int{1, 2, 3} {
			for _, batch := range []int{64, 7, 301} {
				for _, integer := range []bool{false, true} {
					var opts []Option
					if integer {
						opts = append(opts, WithIntegerArithmetic())
					}
					prev := runtime.GOMAXPROCS(procs)
					ev, err := New(m, data, batch, calib, nil, opts...)
					runtime.GOMAXPROCS(prev)
					if err != nil {
						t.Fatal(err)
					}
					if len(ev.sessions) != procs {
						t.Fatalf("%d sessions with GOMAXPROCS %d", len(ev.sessions), procs)
					}
					for pi, plan := range []Plan{UniformPlan(m, 8, 8), mixedPlan(m)} {
						what := fmt.Sprintf("%s, %d workers, batch %d, integer %v, plan %d", name, procs, batch, integer, pi)
						got, err := ev.Evaluate(ctx, plan)
						if err != nil {
							t.Fatalf("%s: %v", what, err)
						}
						// The reference: each batch whole on the first session.
						sum, correct := 0.0, 0
						for _, b := range data.Batches(batch) {
							logits, err := ev.Logits(plan, b.X, b.Len())
							if err != nil {
								t.Fatal(err)
							}
							l, c, err := engine.CrossEntropy(logits, m.Classes, b.Labels)
							if err != nil {
								t.Fatal(err)
							}
							sum += l
							correct += c
						}
						want := sum / float64(data.Len())
						if got.Samples != data.Len() || got.Correct != correct || math.Abs(got.Loss-want) > 1e-12*want {
							t.Errorf("%s: %d samples, %d correct, loss %.17g; whole batches: %d, %d, %.17g",
								what, got.Samples, got.Correct, got.Loss, data.Len(), correct, want)
						}
					}
				}
			}
		}
	}
}
