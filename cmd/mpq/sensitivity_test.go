package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func sensitivityConfig(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	r := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	dir := t.TempDir()
	yaml := fmt.Sprintf(`model: %s/testdata/models/lenet.onnx
data:
  test: {format: idx, images: %[1]s/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: %[1]s/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
sensitivity: {count: 16, batch: 8, min_samples: 2, max_samples: 2, methods: [hutchinson, fisher]}
study: {name: tiny, storage: sqlite://tiny.db}
search: {weight_bits: [2, 8], activation_bits: [8]}
`, r)
	path := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runSensitivityCmd(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := newSensitivityCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("mpq sensitivity %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

func TestSensitivityCmd(t *testing.T) {
	cfg := sensitivityConfig(t)
	out, logs := runSensitivityCmd(t, "-c", cfg, "--json")
	var got struct {
		Layers []map[string]any `json:"layers"`
		Cached bool             `json:"cached"`
		Plot   string           `json:"plot"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.Layers) != 5 || got.Cached {
		t.Fatalf("%d layers, cached %v", len(got.Layers), got.Cached)
	}
	for _, key := range []string{"name", "params", "hessian_trace", "hessian_trace_stderr", "samples", "top_eigenvalue", "fisher_trace", "activation_trace", "omega"} {
		if _, ok := got.Layers[0][key]; !ok {
			t.Errorf("layer JSON lacks %q", key)
		}
	}
	if got.Layers[0]["top_eigenvalue"] != nil || got.Layers[0]["fisher_trace"] == nil {
		t.Errorf("eigenvalue %v (not computed: want null), fisher %v", got.Layers[0]["top_eigenvalue"], got.Layers[0]["fisher_trace"])
	}
	if omega, _ := got.Layers[0]["omega"].(map[string]any); len(omega) != 2 {
		t.Errorf("omega %v, want bits 2 and 8", got.Layers[0]["omega"])
	}
	if want := filepath.Join(filepath.Dir(cfg), "tiny.sensitivity.png"); got.Plot != want {
		t.Errorf("plot %q, want %q", got.Plot, want)
	}
	if _, err := os.Stat(got.Plot); err != nil {
		t.Error(err)
	}
	if !strings.Contains(logs, "sensitivity: hutchinson sample ") || !strings.Contains(logs, "5/5 layers done") {
		t.Errorf("no progress lines in\n%s", logs)
	}

	out, _ = runSensitivityCmd(t, "-c", cfg, "--plot", filepath.Join(t.TempDir(), "s.svg"))
	for _, want := range []string{"Hessian trace", "Fisher trace", "Ω 2-bit", "/fc3/Gemm", "from the cache", "chart: "} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
	out, _ = runSensitivityCmd(t, "-c", cfg, "--no-cache", "--no-plot")
	if strings.Contains(out, "from the cache") || strings.Contains(out, "chart: ") {
		t.Errorf("--no-cache --no-plot:\n%s", out)
	}
}
