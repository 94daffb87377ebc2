package engine_test

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

// TestForwardAllocs checks that once a batch size has run, Forward (float32)
// and Forward+Backward (float64) of every shipped model allocate nothing.
func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, name := range shippedModels {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			bt := loadMNISTTest(t, m).BatchAt(0, 256)
			s := engine.NewSession[float32](m)
			defer s.Close()
			forward := func() {
				if _, err := s.Forward(bt.X, 256); err != nil {
					t.Fatal(err)
				}
			}
			forward()
			if a := testing.AllocsPerRun(3, forward); a != 0 {
				t.Errorf("Forward: %v allocations per batch, want 0", a)
			}

			x := make([]float64, len(bt.X))
			for i, v := range bt.X {
				x[i] = float64(v)
			}
			s64 := engine.NewSession[float64](m)
			defer s64.Close()
			step := func() {
				if _, err := s64.Forward(x, 256); err != nil {
					t.Fatal(err)
				}
				if _, err := s64.Backward(bt.Labels); err != nil {
					t.Fatal(err)
				}
			}
			step()
			if a := testing.AllocsPerRun(2, step); a != 0 {
				t.Errorf("Forward+Backward: %v allocations per batch, want 0", a)
			}
		})
	}
}

// TestOpZooAllocs checks the same for every operator-zoo model, so that
// every supported op keeps a steady-state batch free of allocations.
func TestOpZooAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	dir, man := readZooManifest(t)
	for _, z := range man.Models {
		t.Run(z.Name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(dir, z.File))
			if err != nil {
				t.Fatal(err)
			}
			x := readNPY[float32](t, filepath.Join(dir, z.Name+".input.npy"))
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			n := len(x) / per
			s := engine.NewSession[float32](m)
			defer s.Close()
			forward := func() {
				if _, err := s.Forward(x, n); err != nil {
					t.Fatal(err)
				}
			}
			forward()
			if a := testing.AllocsPerRun(3, forward); a != 0 {
				t.Errorf("Forward: %v allocations per batch, want 0", a)
			}
			if !z.Labels {
				return
			}
			var labels []int
			for _, v := range readNPY[int64](t, filepath.Join(dir, z.Name+".labels.npy")) {
				labels = append(labels, int(v))
			}
			x64 := make([]float64, len(x))
			for i, v := range x {
				x64[i] = float64(v)
			}
			s64 := engine.NewSession[float64](m)
			defer s64.Close()
			step := func() {
				if _, err := s64.Forward(x64, n); err != nil {
					t.Fatal(err)
				}
				if _, err := s64.Backward(labels); err != nil {
					t.Fatal(err)
				}
			}
			step()
			if a := testing.AllocsPerRun(3, step); a != 0 {
				t.Errorf("Forward+Backward: %v allocations per batch, want 0", a)
			}
		})
	}
}

// TestSessionGoroutines checks that sessions stop their goroutines, whether
// closed or dropped.
func TestSessionGoroutines(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	bt := loadMNISTTest(t, m).BatchAt(0, 64)
	runtime.GC()
	before := runtime.NumGoroutine()
	for i := range 40 {
		s := engine.NewSession[float32](m)
		if _, err := s.Forward(bt.X, 64); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			s.Close()
		}
	}
	t.Logf("%d goroutines before, %d after running 40 sessions", before, runtime.NumGoroutine())
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after dropping the sessions, %d before", runtime.NumGoroutine(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSampleBytes checks Model.SampleBytes, the per-sample memory the
// batch caps of calibration and sensitivity rely on, against what a
// float64 Session's first Forward+Backward of a batch allocates: the
// values and gradients, plus the kernels' scratch.
func TestSampleBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const n = 128
	for _, name := range shippedModels {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			bt := loadMNISTTest(t, m).BatchAt(0, n)
			x := make([]float64, len(bt.X))
			for i, v := range bt.X {
				x[i] = float64(v)
			}
			s := engine.NewSession[float64](m)
			defer s.Close()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := s.Forward(x, n); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Backward(bt.Labels); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got, want := float64(after.TotalAlloc-before.TotalAlloc), float64(m.SampleBytes(8, true)*n)
			t.Logf("%.1f MB allocated, %.1f MB predicted", got/1e6, want/1e6)
			if got < 0.7*want || got > 2.5*want {
				t.Errorf("a batch of %d allocated %.1f MB; SampleBytes predicts %.1f MB", n, got/1e6, want/1e6)
			}
		})
	}
}
