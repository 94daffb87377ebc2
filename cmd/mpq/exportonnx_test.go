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

// exportONNXConfig writes a small MLP config (test split only) into dir.
func exportONNXConfig(t *testing.T, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	r := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	yaml := fmt.Sprintf(`model: %s/testdata/models/mlp.onnx
data:
  test: {format: idx, images: %[1]s/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: %[1]s/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
evaluation: {split: test, count: 1000}
calibration: {split: test, count: 128, method: minmax}
sensitivity: {split: test, count: 16, batch: 8, min_samples: 2, max_samples: 2}
study: {name: qdq, storage: sqlite://qdq.db}
search: {weight_bits: [2, 4, 8], activation_bits: [4, 8], weight_quantizers: [uniform, kmeans-hessian]}
`, r)
	path := filepath.Join(dir, "mlp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runExportONNX(args ...string) (string, error) {
	cmd := newExportONNXCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestExportONNXCmd(t *testing.T) {
	dir := t.TempDir()
	cfg := exportONNXConfig(t, dir)
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(`layers:
  /fc1/Gemm: {weight_bits: 4, activation_bits: 8}
  /fc2/Gemm: {weight_bits: 3, activation_bits: 4, weight_quantizer: kmeans-hessian}
  fc3.weight: {weight_bits: 1, activation_bits: 8, weight_quantizer: binary}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runExportONNX("-c", cfg, "--plan", plan, "-o", filepath.Join(dir, "mlp.qdq.onnx"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
	for _, want := range []string{"/fc1/Gemm", "int8+DQ", "Clip+uint8 QDQ", "kmeans-hessian/3: float32",
		"--layerPrecisions=/fc1/Gemm:int8,/fc2/Gemm:fp16,/fc3/Gemm:fp16", "plan (fake-quantized)  accuracy", "exported model         accuracy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var enc struct {
		Version             string                      `json:"version"`
		ActivationEncodings map[string][]map[string]any `json:"activation_encodings"`
		ParamEncodings      map[string][]map[string]any `json:"param_encodings"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mlp.qdq.encodings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &enc); err != nil {
		t.Fatal(err)
	}
	if enc.Version != "0.6.1" || len(enc.ActivationEncodings) != 3 || len(enc.ParamEncodings["fc1.weight"]) != 256 ||
		enc.ParamEncodings["fc1.weight"][0]["offset"] != -8.0 || enc.ParamEncodings["fc2.weight"][0]["dtype"] != "float" {
		t.Errorf("encodings: %.400s", raw)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "mlp.qdq.trtexec.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(txt), "trtexec --onnx=mlp.qdq.onnx --int8 --fp16 --precisionConstraints=obey --layerPrecisions=") {
		t.Errorf("TensorRT file:\n%s", txt)
	}
}

func TestExportONNXErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := exportONNXConfig(t, dir)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("layers:\n  /conv9/Conv: {weight_bits: 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("default: {weight_bits: 8, activation_bits: 8}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown layer", []string{"-c", cfg, "--plan", bad, "-o", out}, []string{"/conv9/Conv", "not a quantizable layer", "mpq inspect"}},
		{"missing plan", []string{"-c", cfg, "--plan", filepath.Join(dir, "nope.yaml"), "-o", out}, []string{"nope.yaml", "check the --plan path"}},
		{"missing folder", []string{"-c", cfg, "--plan", good, "-o", filepath.Join(dir, "no", "such", "m.onnx")}, []string{"m.onnx", "does not exist", "check the -o path"}},
		{"folder as output", []string{"-c", cfg, "--plan", good, "-o", dir}, []string{"is a folder"}},
		{"no output", []string{"-c", cfg, "--plan", good}, []string{`"output" not set`}},
		{"trial on a single plan", []string{"-c", cfg, "--plan", good, "--trial", "3", "-o", out}, []string{"--trial 3", "single plan"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := runExportONNX(tc.args...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s behind", out)
	}
}
