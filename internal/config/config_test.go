package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"mpq/internal/dataset"
)

// example is the config of the package documentation.
const example = `model: ../testdata/models/lenet.onnx
data:
  train: {format: idx, images: ../testdata/mnist/train-images-idx3-ubyte.gz, labels: ../testdata/mnist/train-labels-idx1-ubyte.gz}
  test:  {format: idx, images: ../testdata/mnist/t10k-images-idx3-ubyte.gz, labels: ../testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
evaluation:  {split: test, count: 10000}
calibration: {split: train, count: 512, method: minmax}
sensitivity: {split: train, count: 1024, seed: 0}
study: {name: lenet-mnist, storage: sqlite://lenet.db}
search:
  weight_bits: [2, 3, 4, 8]
  activation_bits: [4, 8]
  objectives: [accuracy, size_bits]      # maximise the first, minimise the rest; bops also allowed
  constraints: {max_accuracy_drop: 0.02} # also max_size_bits, max_bops
  trials: 100
  seed: 1
  sampler: auto                          # auto, tpe, random, exhaustive
  workers: 2
  layers: {conv1: {weight_bits: [8]}}    # optional per-layer overrides: weight_bits, activation_bits, weight_quantizers
  weight_quantizers: [uniform]           # optional searched quantizer dimension: uniform, binary, ternary, kmeans, kmeans-hessian, pow2
`

// exampleLayout creates, under a temporary folder, empty stand-ins for the
// files the example names, and returns the path the example config should
// have (configs/lenet.yaml).
func exampleLayout(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	touch(t, root, "testdata/models/lenet.onnx",
		"testdata/mnist/train-images-idx3-ubyte.gz", "testdata/mnist/train-labels-idx1-ubyte.gz",
		"testdata/mnist/t10k-images-idx3-ubyte.gz", "testdata/mnist/t10k-labels-idx1-ubyte.gz")
	if err := os.MkdirAll(filepath.Join(root, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "configs", "lenet.yaml")
}

// touch creates empty files (and their folders) under root.
func touch(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// exported returns s without its unexported bookkeeping, for comparison.
func exported(s Subset) Subset {
	s.section, s.auto = "", false
	return s
}

func TestParseExample(t *testing.T) {
	path := exampleLayout(t)
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if c.Path != path || c.Dir != dir {
		t.Errorf("Path %q Dir %q, want %q %q", c.Path, c.Dir, path, dir)
	}
	if c.Model != "../testdata/models/lenet.onnx" {
		t.Errorf("Model %q", c.Model)
	}
	wantSplits := map[string]dataset.Source{
		"train": {Split: "train", Format: "idx", Images: "../testdata/mnist/train-images-idx3-ubyte.gz", Labels: "../testdata/mnist/train-labels-idx1-ubyte.gz"},
		"test":  {Split: "test", Format: "idx", Images: "../testdata/mnist/t10k-images-idx3-ubyte.gz", Labels: "../testdata/mnist/t10k-labels-idx1-ubyte.gz"},
	}
	if !reflect.DeepEqual(c.Data.Splits, wantSplits) {
		t.Errorf("Splits %+v\nwant %+v", c.Data.Splits, wantSplits)
	}
	if want := (dataset.Transform{Scale: 0.00392156862745098, Mean: []float64{0.1307}, Std: []float64{0.3081}}); !reflect.DeepEqual(c.Data.Transform, want) {
		t.Errorf("Transform %+v", c.Data.Transform)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"evaluation", exported(c.Evaluation), Subset{Split: "test", Count: 10000, Batch: 256}},
		{"calibration subset", exported(c.Calibration.Subset), Subset{Split: "train", Count: 512, Batch: 256}},
		{"calibration method", c.Calibration.Method, "minmax"},
		{"calibration percentile", c.Calibration.Percentile, 99.99},
		{"sensitivity subset", exported(c.Sensitivity.Subset), Subset{Split: "train", Count: 1024, Seed: ptr[uint64](0), Batch: 256}},
		{"sensitivity settings", []any{c.Sensitivity.Tolerance, c.Sensitivity.MinSamples, c.Sensitivity.MaxSamples, c.Sensitivity.EigenIters, c.Sensitivity.EigenTolerance, c.Sensitivity.Methods},
			[]any{1e-3, 10, 200, 100, 1e-3, []string{"hutchinson", "eigen", "fisher"}}},
		{"study", c.Study, Study{Name: "lenet-mnist", Storage: "sqlite://lenet.db"}},
		{"search", c.Search, Search{
			WeightBits:       []int{2, 3, 4, 8},
			ActivationBits:   []int{4, 8},
			Objectives:       []string{"accuracy", "size_bits"},
			Constraints:      Constraints{MaxAccuracyDrop: ptr(0.02)},
			Trials:           100,
			Seed:             1,
			Sampler:          "auto",
			Workers:          2,
			Layers:           map[string]Layer{"conv1": {WeightBits: []int{8}}},
			WeightQuantizers: []string{"uniform"},
		}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %+v, want %+v", ch.name, ch.got, ch.want)
		}
	}
	st, err := c.Storage()
	if err != nil || st != (Storage{Driver: "sqlite", DSN: filepath.Join(dir, "lenet.db")}) {
		t.Errorf("Storage() = %+v, %v", st, err)
	}
	if got, want := c.Resolve(c.Model), filepath.Join(filepath.Dir(dir), "testdata", "models", "lenet.onnx"); got != want {
		t.Errorf("Resolve(model) = %q, want %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "m.onnx", "a", "b", "c", "d")
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"minimal", "model: m.onnx\ndata: {test: {images: a, labels: b}}\n", func(t *testing.T, c *Config) {
			want := Config{
				Evaluation:  Subset{Split: "test", Batch: 256},
				Calibration: Calibration{Subset: Subset{Split: "test", Count: 512, Batch: 256}, Method: "minmax", Percentile: 99.99},
				Sensitivity: Sensitivity{Subset: Subset{Split: "test", Count: 1024, Batch: 256}, Tolerance: 1e-3, MinSamples: 10, MaxSamples: 200,
					EigenIters: 100, EigenTolerance: 1e-3, Methods: []string{"hutchinson", "eigen", "fisher"}},
				Study: Study{Name: "minimal", Storage: "sqlite://minimal.db"},
				Search: Search{WeightBits: []int{2, 3, 4, 8}, ActivationBits: []int{8}, Objectives: []string{"accuracy", "size_bits"},
					Trials: 100, Sampler: "auto", Workers: 1, WeightQuantizers: []string{"uniform"}},
			}
			got := []any{exported(c.Evaluation), exported(c.Calibration.Subset), c.Calibration.Method, c.Calibration.Percentile,
				exported(c.Sensitivity.Subset), c.Sensitivity.Methods, c.Sensitivity.MaxSamples, c.Study, c.Search}
			exp := []any{want.Evaluation, want.Calibration.Subset, want.Calibration.Method, want.Calibration.Percentile,
				want.Sensitivity.Subset, want.Sensitivity.Methods, want.Sensitivity.MaxSamples, want.Study, want.Search}
			for i := range got {
				if !reflect.DeepEqual(got[i], exp[i]) {
					t.Errorf("value %d = %+v, want %+v", i, got[i], exp[i])
				}
			}
			if k := c.Data.Splits["test"].Kind(); k != "idx" {
				t.Errorf("inferred format %q, want idx", k)
			}
		}},
		{"train split is the calibration default", "model: m.onnx\ndata: {test: {images: a, labels: b}, train: {images: c, labels: d}}\n", func(t *testing.T, c *Config) {
			if c.Evaluation.Split != "test" || c.Calibration.Split != "train" || c.Sensitivity.Split != "train" {
				t.Errorf("splits %q %q %q, want test train train", c.Evaluation.Split, c.Calibration.Split, c.Sensitivity.Split)
			}
		}},
		{"sensitivity follows calibration", "model: m.onnx\ndata: {val: {images: a, labels: b}, train: {images: c, labels: d}}\nevaluation: {split: val}\ncalibration: {split: val}\n", func(t *testing.T, c *Config) {
			if c.Sensitivity.Split != "val" {
				t.Errorf("sensitivity split %q, want val", c.Sensitivity.Split)
			}
		}},
		{"null values keep defaults", "model: m.onnx\ndata: {test: {images: a, labels: b}}\nevaluation:\n  count:\n  batch: ~\nsearch:\n  trials:\n", func(t *testing.T, c *Config) {
			if c.Evaluation.Count != 0 || c.Evaluation.Batch != 256 || c.Search.Trials != 100 {
				t.Errorf("count %d batch %d trials %d", c.Evaluation.Count, c.Evaluation.Batch, c.Search.Trials)
			}
		}},
		{"timeout and constraints", "model: m.onnx\ndata: {test: {images: a, labels: b}}\nsearch: {timeout: 1h30m, constraints: {max_size_bits: 1.5e6, max_bops: 2e9}}\n", func(t *testing.T, c *Config) {
			if c.Search.Timeout != 90*time.Minute || *c.Search.Constraints.MaxSizeBits != 1.5e6 || *c.Search.Constraints.MaxBops != 2e9 ||
				c.Search.Constraints.MaxAccuracyDrop != nil {
				t.Errorf("timeout %v constraints %+v", c.Search.Timeout, c.Search.Constraints)
			}
		}},
		{"anchors and merge keys", "model: m.onnx\ndata:\n  test: &s {format: npy, inputs: a, labels: b}\n  val:\n    <<: *s\n    inputs: c\ncalibration: {split: val}\n", func(t *testing.T, c *Config) {
			if want := (dataset.Source{Split: "val", Format: "npy", Inputs: "c", Labels: "b"}); c.Data.Splits["val"] != want {
				t.Errorf("val = %+v, want %+v", c.Data.Splits["val"], want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			if tt.name == "minimal" {
				name = "minimal"
			}
			c, err := Parse([]byte(tt.yaml), filepath.Join(dir, name+".yml"))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// head is a valid start of a config: lines 1 to 3.
const head = "model: model.onnx\ndata:\n  test: {format: idx, images: img.gz, labels: lbl.gz}\n"

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "model.onnx", "img.gz", "lbl.gz", "train.gz", "train-labels.gz")
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "study.yaml")
	notExist := func(p string) string {
		return "file " + filepath.Join(dir, p) + " does not exist; check the path; relative paths are resolved against the config file's folder (" + dir + ")"
	}
	tests := []struct {
		name string
		yaml string
		want []string // lines of the message, "F" standing for the file
	}{
		{"unknown key", head + "search:\n  samplr: tpe\n",
			[]string{`F:5: search.samplr: unknown key in search; did you mean "sampler"?`}},
		{"unknown top-level key", head + "colour: red\n",
			[]string{`F:4: colour: unknown key; known keys: calibration, data, evaluation, model, search, sensitivity, study`}},
		{"unknown key in a split", "model: model.onnx\ndata:\n  test: {format: idx, image: img.gz, labels: lbl.gz}\n",
			[]string{`F:3: data.test.image: unknown key in data.test; did you mean "images"?`}},
		{"wrong types", head + "search:\n  trials: many\n  workers: [1, 2]\n  seed: -1\n  timeout: 5\nevaluation: {split: {name: test}}\n",
			[]string{
				`F:5: search.trials: expected an integer, got "many"`,
				`F:6: search.workers: expected an integer, got a list`,
				`F:7: search.seed: expected a non-negative integer, got "-1"`,
				`F:8: search.timeout: expected a duration such as 30m or 2h, got "5"`,
				`F:9: evaluation.split: expected a string, got a mapping`,
			}},
		{"list expected", head + "search: {weight_bits: 4}\n",
			[]string{`F:4: search.weight_bits: expected a list such as [a, b], got "4"`}},
		{"duplicate key", head + "search:\n  trials: 5\n  trials: 6\n",
			[]string{`F:6: search.trials: key given twice (first on line 5); keep one`}},
		{"duplicate split", head + "  test: {format: idx, images: img.gz, labels: lbl.gz}\n",
			[]string{`F:4: data.test: key given twice (first on line 3); keep one`}},
		{"negative count", head + "evaluation: {split: test, count: -5}\n",
			[]string{`F:4: evaluation.count: -5; a count must be at least 1`}},
		{"zero counts", head + "evaluation: {count: 0}\ncalibration: {count: 0}\nsensitivity:\n  count: 0\n  batch: 0\n",
			[]string{
				`F:4: evaluation.count: 0; a count must be at least 1`,
				`F:5: calibration.count: 0; a count must be at least 1`,
				`F:7: sensitivity.count: 0; a count must be at least 1`,
				`F:8: sensitivity.batch: 0; a batch must hold at least 1 sample`,
			}},
		{"bad bits", head + "search:\n  weight_bits: [0, 4, 17, 33, 4, 32]\n",
			[]string{
				`F:5: search.weight_bits[0]: 0 is not a supported bitwidth; use 1 to 16, or 32 for float`,
				`F:5: search.weight_bits[2]: 17 is not a supported bitwidth; use 1 to 16, or 32 for float`,
				`F:5: search.weight_bits[3]: 33 is not a supported bitwidth; use 1 to 16, or 32 for float`,
				`F:5: search.weight_bits[4]: 4 is listed twice`,
			}},
		{"bits one per line", head + "search:\n  activation_bits:\n    - 8\n    - 17\n",
			[]string{`F:7: search.activation_bits[1]: 17 is not a supported bitwidth; use 1 to 16, or 32 for float`}},
		{"empty bit set", head + "search: {activation_bits: []}\n",
			[]string{`F:4: search.activation_bits: empty; list at least one bitwidth, such as [4, 8]`}},
		{"unknown split", head + "evaluation: {split: val}\n",
			[]string{`F:4: evaluation.split: split "val" is not in data (it has: test); name one of them or add it to data`}},
		{"unknown sensitivity split", head + "sensitivity: {split: train}\n",
			[]string{`F:4: sensitivity.split: split "train" is not in data (it has: test); name one of them or add it to data`}},
		{"default split missing", "model: model.onnx\ndata:\n  train: {images: train.gz, labels: train-labels.gz}\n",
			[]string{`F: evaluation.split: not given, and the default split "test" is not in data (it has: train); set evaluation.split`}},
		{"unknown sampler", head + "search: {sampler: bayes}\n",
			[]string{`F:4: search.sampler: "bayes" is not one of auto, tpe, random, exhaustive`}},
		{"missing model file", "model: nope.onnx\n" + head[len("model: model.onnx\n"):],
			[]string{`F:1: model: ` + notExist("nope.onnx")}},
		{"model is a folder", "model: folder\n" + head[len("model: model.onnx\n"):],
			[]string{`F:1: model: ` + filepath.Join(dir, "folder") + ` is a folder, not a file`}},
		{"missing data file", "model: model.onnx\ndata:\n  test: {format: idx, images: img.gz, labels: nope.gz}\n",
			[]string{`F:3: data.test.labels: ` + notExist("nope.gz")}},
		{"missing npz file", "model: model.onnx\ndata:\n  test:\n    format: npz\n    file: sub/d.npz\n    inputs: x\n    labels: y\n",
			[]string{`F:5: data.test.file: ` + notExist("sub/d.npz")}},
		{"no model", "data:\n  test: {format: idx, images: img.gz, labels: lbl.gz}\n",
			[]string{`F: model: missing; give the path of the ONNX model file`}},
		{"no data", "model: model.onnx\n",
			[]string{`F: data: no data splits; add one such as test: {format: idx, images: t10k-images-idx3-ubyte.gz, labels: t10k-labels-idx1-ubyte.gz}`}},
		{"unsupported format", "model: model.onnx\ndata:\n  test: {format: csv, images: img.gz, labels: lbl.gz}\n",
			[]string{`F:3: data.test.format: "csv" is not a supported format; use idx, npy or npz`}},
		{"missing labels key", "model: model.onnx\ndata:\n  test:\n    format: npy\n    inputs: img.gz\n",
			[]string{`F:3: data.test.labels: missing: format npy needs the labels (a file)`}},
		{"transform", "model: model.onnx\ndata:\n  test: {format: idx, images: img.gz, labels: lbl.gz}\n  transform:\n    scale: -1\n    mean: [0.5, .nan, 0.5]\n    std: [0.5, 0]\n",
			[]string{
				`F:4: data.transform: mean has 3 values but std has 2; give one value per channel (or one for all) to each`,
				`F:5: data.transform.scale: -1; it must be a positive number (1/255 = 0.00392156862745098 maps bytes to [0, 1])`,
				`F:6: data.transform.mean[1]: NaN; a mean must be a finite number`,
				`F:7: data.transform.std[1]: 0; a standard deviation must be a positive number`,
			}},
		{"empty file", "", []string{`F: the config file is empty; it needs at least model: and data: (see the package documentation for an example)`}},
		{"only comments", "# nothing yet\n\n", []string{`F: the config file holds only comments; it needs at least model: and data:`}},
		{"unclosed flow mapping", head + "search: {trials: 5\n", []string{`F:4: did not find expected ',' or '}'`}},
		{"bad indentation", head + "search:\n  trials: 5\n workers: 2\n", []string{`F:6: did not find expected key`}},
		{"scanner error", head + "search:\n  trials: @5\n", []string{`F:5: found character that cannot start any token`}},
		{"unknown anchor", head + "search: *s\n", []string{`F: unknown anchor 's' referenced`}},
		{"two documents", head + "---\nmodel: other.onnx\n", []string{`F:4: a second YAML document starts here; a config file holds one`}},
		{"not a mapping", "- model.onnx\n", []string{`F:1: the config must be a mapping of sections (model:, data:, ...), not a list`}},
		{"storage scheme", head + "study: {storage: mysql://db}\n",
			[]string{`F:4: study.storage: scheme "mysql" is not supported; use sqlite, postgres or postgresql`}},
		{"storage without scheme", head + "study:\n  storage: lenet.db\n",
			[]string{`F:5: study.storage: "lenet.db" has no scheme; use sqlite://lenet.db or postgres://user@host/db`}},
		{"objectives", head + "search:\n  objectives: [size_bits, accuracy, latency, size_bits]\n",
			[]string{
				`F:5: search.objectives[0]: "size_bits" cannot come first; the first objective is the quality, accuracy or loss, and the rest are costs`,
				`F:5: search.objectives[1]: "accuracy" can only be the first objective; the rest are costs (size_bits, bops)`,
				`F:5: search.objectives[2]: "latency" is not an objective; use accuracy, loss, size_bits, bops`,
				`F:5: search.objectives[3]: "size_bits" is listed twice`,
			}},
		{"constraints", head + "search:\n  constraints: {max_accuracy_drop: 2, max_size_bits: 0, max_bops: -1}\n",
			[]string{
				`F:5: search.constraints.max_accuracy_drop: 2; it is a fraction of accuracy in [0, 1] (0.02 is two points)`,
				`F:5: search.constraints.max_size_bits: 0; it must be a positive number`,
				`F:5: search.constraints.max_bops: -1; it must be a positive number`,
			}},
		{"budget", head + "search: {trials: 0, workers: -2, timeout: -5m}\n",
			[]string{
				`F:4: search.trials: 0; it must be at least 1`,
				`F:4: search.workers: -2; it must be at least 1`,
				`F:4: search.timeout: -5m0s; a timeout must not be negative (leave it out for none)`,
			}},
		{"layers", head + "search:\n  layers:\n    conv1: {weight_bits: [64], activation_bits: []}\n    fc: {}\n    fc2: {weight_quantizers: [pow3]}\n",
			[]string{
				`F:6: search.layers.conv1.weight_bits[0]: 64 is not a supported bitwidth; use 1 to 16, or 32 for float`,
				`F:6: search.layers.conv1.activation_bits: empty; list at least one bitwidth, such as [4, 8]`,
				`F:7: search.layers.fc: overrides nothing; give weight_bits, activation_bits or weight_quantizers`,
				`F:8: search.layers.fc2.weight_quantizers[0]: "pow3" is not one of uniform, binary, ternary, kmeans, kmeans-hessian, pow2`,
			}},
		{"weight quantizers", head + "search: {weight_quantizers: [uniform, fancy, uniform]}\n",
			[]string{
				`F:4: search.weight_quantizers[1]: "fancy" is not one of uniform, binary, ternary, kmeans, kmeans-hessian, pow2`,
				`F:4: search.weight_quantizers[2]: "uniform" is listed twice`,
			}},
		{"calibration", head + "calibration: {method: kl, percentile: 150}\n",
			[]string{
				`F:4: calibration.method: "kl" is not one of minmax, percentile, mse`,
				`F:4: calibration.percentile: 150; a percentile must be in (0, 100], such as 99.99`,
			}},
		{"sensitivity", head + "sensitivity:\n  methods: [hutchinson, hutchinson, magic]\n  max_samples: 5\n  tolerance: 0\n  eigen_iters: 0\n",
			[]string{
				`F:5: sensitivity.methods[1]: "hutchinson" is listed twice`,
				`F:5: sensitivity.methods[2]: "magic" is not one of hutchinson, eigen, fisher, activation, perturbation`,
				`F:6: sensitivity.max_samples: 5; it must be at least 1 and at least min_samples (10)`,
				`F:7: sensitivity.tolerance: 0; it must be a positive number`,
				`F:8: sensitivity.eigen_iters: 0; it must be at least 1`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), file)
			if err == nil {
				t.Fatalf("parsed %+v, want an error", c)
			}
			lines := make([]string, len(tt.want))
			for i, l := range tt.want {
				lines[i] = file + strings.TrimPrefix(l, "F")
			}
			if want := strings.Join(lines, "\n"); err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
		})
	}
}

func TestYAMLErrorRewrite(t *testing.T) {
	c := newConfig("s.yaml")
	err := c.yamlError(&yaml.TypeError{Errors: []string{
		"line 3: field samplr not found in type config.Search",
		"line 12: cannot unmarshal !!str `x` into int",
		"something without a line",
	}})
	want := "s.yaml: something without a line\ns.yaml:3: field samplr not found in type config.Search\ns.yaml:12: cannot unmarshal !!str `x` into int"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	touch(t, root, "models/m.onnx", "data/x.npy", "data/y.npy")
	cfg := "model: ../models/m.onnx\ndata: {test: {inputs: ../data/x.npy, labels: ../data/y.npy}}\nstudy: {storage: 'sqlite://runs/s.db?_busy_timeout=5000'}\n"
	if err := os.MkdirAll(filepath.Join(root, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "configs", "s.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load with a path relative to another working directory.
	t.Chdir(filepath.Join(root, "data"))
	c, err := Load(filepath.Join("..", "configs", "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	configs := filepath.Join(root, "configs")
	tests := []struct{ in, want string }{
		{"../models/m.onnx", filepath.Join(root, "models", "m.onnx")},
		{"x", filepath.Join(configs, "x")},
		{"/abs/file", "/abs/file"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := c.Resolve(tt.in); got != tt.want {
			t.Errorf("Resolve(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	stores := []struct {
		dsn  string
		want Storage
		err  string
	}{
		{"sqlite://runs/s.db?_busy_timeout=5000", Storage{"sqlite", filepath.Join(configs, "runs", "s.db") + "?_busy_timeout=5000"}, ""},
		{"sqlite:///var/lib/mpq/s.db", Storage{"sqlite", "/var/lib/mpq/s.db"}, ""},
		{"sqlite://:memory:", Storage{"sqlite", ":memory:"}, ""},
		{"postgres://mpq@localhost:5432/studies", Storage{"postgres", "postgres://mpq@localhost:5432/studies"}, ""},
		{"postgresql://mpq@localhost/studies", Storage{"postgres", "postgresql://mpq@localhost/studies"}, ""},
		{"sqlite://", Storage{}, `../configs/s.yaml:3: study.storage: "sqlite://" names no database file; use sqlite://study.db`},
		{"postgres://", Storage{}, `../configs/s.yaml:3: study.storage: "postgres://" names no server or database; use postgres://user@host:5432/db`},
	}
	for _, tt := range stores {
		c.Study.Storage = tt.dsn
		got, err := c.Storage()
		if got != tt.want || errText(err) != tt.err {
			t.Errorf("Storage(%q) = %+v, %q; want %+v, %q", tt.dsn, got, errText(err), tt.want, tt.err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestHash(t *testing.T) {
	path := exampleLayout(t)
	parse := func(t *testing.T, text string) *Config {
		t.Helper()
		c, err := Parse([]byte(text), path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := parse(t, example).Hash()
	// The canonical form is a contract: stored studies keep this hash. A
	// change here means existing studies no longer match their configs.
	const pinned = "40e18a0d0b3f890bcd305df8cc58c38b44ca222ea679c91a21a791cb51a4c064"
	if base != pinned {
		t.Errorf("hash of the example = %s, want %s", base, pinned)
	}
	same := map[string]string{
		"comments and spacing": "# LeNet on MNIST\n" + strings.ReplaceAll(example, ": ", ":   ") + "\n# end\n",
		"block style and key order": `search:
  workers: 2
  seed: 1
  trials: 100
  sampler: "auto"
  objectives:
    - accuracy
    - size_bits
  activation_bits: [4, 8]
  weight_bits: [2, 3, 4, 8]
  constraints:
    max_accuracy_drop: 0.020
  layers:
    conv1:
      weight_bits: [8]
  weight_quantizers: [uniform]
study:
  storage: 'sqlite://lenet.db'
  name: lenet-mnist
sensitivity: {count: 1024, split: train, seed: 0}
calibration: {split: train, method: minmax, count: 512}
evaluation: {count: 10000, split: test}
data:
  test:
    labels: ../testdata/mnist/t10k-labels-idx1-ubyte.gz
    images: ../testdata/mnist/t10k-images-idx3-ubyte.gz
    format: idx
  transform: {std: [0.3081], mean: [0.1307], scale: 3.92156862745098e-3}
  train: {labels: ../testdata/mnist/train-labels-idx1-ubyte.gz, format: idx, images: ../testdata/mnist/train-images-idx3-ubyte.gz}
model: "../testdata/models/lenet.onnx"
`,
		"defaults spelled out": strings.Replace(example, "evaluation:  {split: test, count: 10000}",
			"evaluation:  {split: test, count: 10000, batch: 256}\n# defaults\n", 1) +
			"  timeout: 0s\n",
	}
	for name, text := range same {
		t.Run("same/"+name, func(t *testing.T) {
			if h := parse(t, text).Hash(); h != base {
				t.Errorf("hash changed to %s", h)
			}
		})
	}
	different := map[string]string{
		"trials":           strings.Replace(example, "trials: 100", "trials: 101", 1),
		"a bitwidth":       strings.Replace(example, "activation_bits: [4, 8]", "activation_bits: [4, 6]", 1),
		"seed removed":     strings.Replace(example, "count: 1024, seed: 0}", "count: 1024}", 1),
		"transform":        strings.Replace(example, "mean: [0.1307]", "mean: [0.1306]", 1),
		"constraint added": strings.Replace(example, "{max_accuracy_drop: 0.02}", "{max_accuracy_drop: 0.02, max_bops: 1e9}", 1),
		"split file":       strings.Replace(example, "train-labels-idx1-ubyte.gz}", "t10k-labels-idx1-ubyte.gz}", 1),
	}
	for name, text := range different {
		t.Run("different/"+name, func(t *testing.T) {
			if h := parse(t, text).Hash(); h == base {
				t.Error("hash did not change")
			}
		})
	}
	if c := parse(t, example); c.Hash() != c.Hash() {
		t.Error("Hash is not deterministic")
	}
}

func TestSubsetTake(t *testing.T) {
	d := &dataset.Dataset{Name: "d", X: make([]float32, 10), Labels: make([]int, 10), Shape: []int{1}}
	for i := range d.X {
		d.X[i] = float32(i)
	}
	tests := []struct {
		name string
		s    Subset
		want []float32
		err  string
	}{
		{"all", Subset{}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ""},
		{"first", Subset{Count: 3}, []float32{0, 1, 2}, ""},
		{"random", Subset{Count: 3, Seed: ptr[uint64](0)}, nil, ""},
		{"default clamped", Subset{Count: 512, auto: true}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ""},
		{"too many", Subset{Count: 11, section: "calibration"}, nil,
			"config: calibration.count: dataset: d: asked for 11 samples but the dataset has only 10; lower the count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := tt.s.Take(d)
			if errText(err) != tt.err {
				t.Fatalf("error %q, want %q", errText(err), tt.err)
			}
			if err != nil {
				return
			}
			if tt.want != nil && !slices.Equal(sub.X, tt.want) {
				t.Errorf("X = %v, want %v", sub.X, tt.want)
			}
			if tt.s.Seed != nil {
				again, _ := tt.s.Take(d)
				if sub.Len() != tt.s.Count || !slices.Equal(sub.X, again.X) {
					t.Errorf("random subset %v, again %v", sub.X, again.X)
				}
			}
		})
	}
}

func TestLoadSplitMNIST(t *testing.T) {
	mnist, err := filepath.Abs("../../testdata/mnist")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	touch(t, dir, "m.onnx")
	cfg := "model: m.onnx\ndata:\n  test: {format: idx, images: " + filepath.Join(mnist, "t10k-images-idx3-ubyte.gz") +
		", labels: " + filepath.Join(mnist, "t10k-labels-idx1-ubyte.gz") + "}\nevaluation: {count: 100, seed: 3}\n"
	c, err := Parse([]byte(cfg), filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.LoadSplit("test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 10000 || d.Labels[0] != 7 {
		t.Fatalf("test split: %d samples, first label %d", d.Len(), d.Labels[0])
	}
	sub, err := c.Evaluation.Take(d)
	if err != nil || sub.Len() != 100 {
		t.Fatalf("Take: %v, %v", sub, err)
	}
	if _, err := c.LoadSplit("val"); errText(err) != "config: "+filepath.Join(dir, "s.yaml")+`: no split "val" in data` {
		t.Errorf("LoadSplit(val): %v", err)
	}
}
