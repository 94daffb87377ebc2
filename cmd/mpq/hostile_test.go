package main

// Hostile inputs: broken models, data, configs, plans and databases, each
// fed to the real command tree. Every case must fail with exactly the
// expected message (naming the thing and what to do), return an error (mpq
// exits 1), not panic, and leave the study database as it was. The broken
// files are made here from the shipped fixtures (testdata/models,
// testdata/mnist), so nothing binary is committed for these tests.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"mpq/internal/engine"
)

// hostileFiles writes the broken (and a few good) inputs into dir.
type hostileFiles struct {
	t   *testing.T
	dir string
}

func (h hostileFiles) write(name string, data []byte) string {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// lenetProto decodes the shipped LeNet.
func lenetProto(t *testing.T) (*onnx.ModelProto, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "testdata", "models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return &m, raw
}

// mutateModel returns LeNet serialised after f changed a copy of it.
func mutateModel(t *testing.T, f func(m *onnx.ModelProto)) []byte {
	t.Helper()
	m, _ := lenetProto(t)
	f(m)
	out, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// initializer returns the initializer called name.
func initializer(t *testing.T, m *onnx.ModelProto, name string) *onnx.TensorProto {
	t.Helper()
	for _, tp := range m.GetGraph().GetInitializer() {
		if tp.GetName() == name {
			return tp
		}
	}
	t.Fatalf("no initializer %q", name)
	return nil
}

// mnistTest returns the first n MNIST test images (bytes) and labels.
func mnistTest(t *testing.T, n int) ([]byte, []byte) {
	t.Helper()
	read := func(name string) []byte {
		f, err := os.Open(filepath.Join(repoRoot(), "testdata", "mnist", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	img, lbl := read("t10k-images-idx3-ubyte.gz"), read("t10k-labels-idx1-ubyte.gz")
	return img[16 : 16+n*784], lbl[8 : 8+n]
}

// idxFile encodes an IDX file of unsigned bytes with the given magic.
func idxFile(magic uint32, dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

// npyFile encodes a C-order NPY (version 1.0) array; data is little-endian.
func npyFile(descr string, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func int64Bytes(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// npyImages returns n MNIST test images as float32 NPY of shape (n, 784)
// with edit applied to the values, and their labels as int64 NPY.
func npyImages(t *testing.T, n int, edit func(x []float32, y []int64)) ([]byte, []byte) {
	t.Helper()
	img, lbl := mnistTest(t, n)
	x := make([]float32, len(img))
	for i, v := range img {
		x[i] = float32(v)
	}
	y := make([]int64, n)
	for i, v := range lbl {
		y[i] = int64(v)
	}
	if edit != nil {
		edit(x, y)
	}
	return npyFile("<f4", []int{n, 784}, float32Bytes(x)), npyFile("<i8", []int{n}, int64Bytes(y))
}

// hostileConfig is a LeNet config over data in dir (the data block given)
// evaluating count samples, with the study stored in db (relative to dir).
func hostileConfig(model, data, db, study string) string {
	return fmt.Sprintf(`model: %s
data:
%s
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
evaluation: {split: test, count: 16, batch: 16}
calibration: {split: test, count: 16}
sensitivity: {split: test, count: 16, max_samples: 2, min_samples: 2}
study: {name: %s, storage: sqlite://%s}
search: {weight_bits: [2, 8], activation_bits: [8], trials: 2, sampler: random}
`, model, data, study, db)
}

// dbState fingerprints a SQLite study database: its bytes and its WAL's.
func dbState(t *testing.T, db string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s:%d:", filepath.Base(p), len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// runHostile runs args in-process and returns the error's message; a
// panic fails the test with its stack.
func runHostile(t *testing.T, args ...string) (msg string, elapsed time.Duration) {
	t.Helper()
	start := time.Now()
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, false)]
				t.Fatalf("mpq %s panicked: %v\n%s", strings.Join(args, " "), p, buf)
			}
		}()
		_, _, err = runCLI(t, args...)
	}()
	elapsed = time.Since(start)
	if err == nil {
		t.Fatalf("mpq %s succeeded; want an error", strings.Join(args, " "))
	}
	return err.Error(), elapsed
}

func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	h := hostileFiles{t: t, dir: dir}
	root := repoRoot()
	mnist := filepath.Join(root, "testdata", "mnist")
	lenet := filepath.Join(root, "testdata", "models", "lenet.onnx")
	idxData := fmt.Sprintf("  test: {format: idx, images: %s/t10k-images-idx3-ubyte.gz, labels: %[1]s/t10k-labels-idx1-ubyte.gz}", mnist)
	npyData := func(x, y string) string {
		return fmt.Sprintf("  test: {format: npy, inputs: %s, labels: %s}", x, y)
	}

	// A study with a few trials, which no failing command may change.
	good := h.write("good.yaml", []byte(hostileConfig(lenet, idxData, "study.db", "kept")))
	if _, logs, err := runCLI(t, "search", "-c", good); err != nil {
		t.Fatalf("setting up the study: %v\n%s", err, logs)
	}
	db := filepath.Join(dir, "study.db")
	before := readStudy(t, "sqlite://"+db, "kept")
	if len(before.Trials) != 2 {
		t.Fatalf("the setup study has %d trials", len(before.Trials))
	}
	state := dbState(t, db)

	// Models.
	_, lenetRaw := lenetProto(t)
	h.write("empty.onnx", nil)
	h.write("truncated.onnx", lenetRaw[:len(lenetRaw)/2])
	h.write("garbage.onnx", []byte("this is not an ONNX model\n"))
	h.write("hardmax.onnx", mutateModel(t, func(m *onnx.ModelProto) {
		for _, n := range m.GetGraph().GetNode() {
			if n.GetOpType() == "Relu" {
				n.OpType = "Hardmax"
				return
			}
		}
	}))
	h.write("size.onnx", mutateModel(t, func(m *onnx.ModelProto) {
		initializer(t, m, "conv1.weight").Dims = []int64{6, 1, 5, 6}
	}))
	h.write("absurd.onnx", mutateModel(t, func(m *onnx.ModelProto) {
		initializer(t, m, "conv1.weight").Dims = []int64{1 << 40, 1 << 40}
	}))
	h.write("huge.onnx", mutateModel(t, func(m *onnx.ModelProto) {
		initializer(t, m, "conv1.weight").Dims = []int64{1 << 15, 1 << 15} // 2^30 floats: 4 GiB if allocated
	}))
	h.write("absurd-input.onnx", mutateModel(t, func(m *onnx.ModelProto) {
		dims := m.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
		dims[2].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 40}
	}))
	poison := func(v float32) func(m *onnx.ModelProto) {
		return func(m *onnx.ModelProto) {
			tp := initializer(t, m, "conv1.weight")
			raw := append([]byte(nil), tp.GetRawData()...)
			binary.LittleEndian.PutUint32(raw[4*7:], math.Float32bits(v))
			tp.RawData = raw
		}
	}
	h.write("nan.onnx", mutateModel(t, poison(float32(math.NaN()))))
	h.write("inf.onnx", mutateModel(t, poison(float32(math.Inf(-1)))))

	// Data.
	x, y := npyImages(t, 32, nil)
	h.write("data/x.npy", x)
	h.write("data/y.npy", y)
	x, _ = npyImages(t, 32, func(x []float32, y []int64) { x[5*784+300] = float32(math.NaN()) })
	h.write("data/x-nan.npy", x)
	x, _ = npyImages(t, 32, func(x []float32, y []int64) { x[3*784+10] = float32(math.Inf(1)) })
	h.write("data/x-inf.npy", x)
	_, y = npyImages(t, 32, func(x []float32, y []int64) { y[9] = 10 })
	h.write("data/y-10.npy", y)
	_, y = npyImages(t, 32, func(x []float32, y []int64) { y[4] = -1 })
	h.write("data/y-neg.npy", y)
	h.write("data/x-10.npy", npyFile("<f4", []int{32, 10}, make([]byte, 32*10*4)))
	h.write("data/y-short.npy", npyFile("<i8", []int{31}, int64Bytes(make([]int64, 31))))
	h.write("data/x-empty.npy", npyFile("<f4", []int{0, 784}, nil))
	h.write("data/y-empty.npy", npyFile("<i8", []int{0}, nil))
	img, lbl := mnistTest(t, 32)
	h.write("data/magic-images", idxFile(0x00000802, []int{32, 28, 28}, img))
	h.write("data/images", idxFile(0x00000803, []int{32, 28, 28}, img))
	h.write("data/labels", idxFile(0x00000801, []int{32}, lbl))
	h.write("data/magic-labels", idxFile(0x00000803, []int{32}, lbl))

	// Configs: each runs against the kept study.
	cfg := func(name, model, data string) string {
		return h.write(name, []byte(hostileConfig(model, data, "study.db", "kept")))
	}
	onnxCfg := func(name string) string {
		return cfg(name+".yaml", filepath.Join(dir, name+".onnx"), idxData)
	}
	for _, n := range []string{"empty", "truncated", "garbage", "hardmax", "size", "absurd", "huge", "absurd-input", "nan", "inf"} {
		onnxCfg(n)
	}
	// Broken data goes to a new study in a new file, which a failing
	// search must not create.
	fresh := func(name, data string) string {
		return h.write(name, []byte(hostileConfig(lenet, data, "fresh.db", "fresh")))
	}
	d := filepath.Join(dir, "data")
	fresh("nan-input.yaml", npyData(d+"/x-nan.npy", d+"/y.npy"))
	fresh("inf-input.yaml", npyData(d+"/x-inf.npy", d+"/y.npy"))
	fresh("shape.yaml", npyData(d+"/x-10.npy", d+"/y.npy"))
	fresh("empty-data.yaml", npyData(d+"/x-empty.npy", d+"/y-empty.npy"))
	fresh("label-10.yaml", npyData(d+"/x.npy", d+"/y-10.npy"))
	fresh("label-neg.yaml", npyData(d+"/x.npy", d+"/y-neg.npy"))
	fresh("count.yaml", npyData(d+"/x.npy", d+"/y-short.npy"))
	fresh("magic.yaml", fmt.Sprintf("  test: {format: idx, images: %s/magic-images, labels: %[1]s/labels}", d))
	fresh("magic-labels.yaml", fmt.Sprintf("  test: {format: idx, images: %s/images, labels: %[1]s/magic-labels}", d))
	yamlCase := func(name, old, new string) {
		raw, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), old) {
			t.Fatalf("%s: %q not in the good config", name, old)
		}
		h.write(name+".yaml", []byte(strings.Replace(string(raw), old, new, 1)))
	}
	yamlCase("unknown-key", "search: {", "search: {samplr: tpe, ")
	yamlCase("wrong-type", "trials: 2", "trials: many")
	yamlCase("negative-count", "evaluation: {split: test, count: 16", "evaluation: {split: test, count: -16")
	yamlCase("bits", "weight_bits: [2, 8]", "weight_bits: [0, 8, 17, 33]")
	yamlCase("empty-bits", "activation_bits: [8]", "activation_bits: []")
	yamlCase("duplicate-key", "model: ", "study: {name: other}\nmodel: ")
	yamlCase("missing-dir", "storage: sqlite://study.db", "storage: sqlite://nowhere/study.db")
	yamlCase("no-server", "storage: sqlite://study.db", "storage: 'postgres://mpq@127.0.0.1:1/x?sslmode=disable'")
	yamlCase("no-study", "name: kept", "name: nothing-here")

	// Plans.
	h.write("plan-unknown.yaml", []byte("default: {weight_bits: 8, activation_bits: 8}\nlayers:\n  /conv9/Conv: {weight_bits: 4}\n"))
	h.write("plan-bits.yaml", []byte("layers:\n  conv1.weight: {weight_bits: 0}\n"))
	h.write("plan-key.yaml", []byte("layers:\n  conv1.weight: {wieght_bits: 4}\n"))
	h.write("plan-dup.yaml", []byte("layers:\n  conv1.weight: {weight_bits: 4}\n  conv1.weight: {weight_bits: 2}\n"))

	const reexport = "; the file is truncated or not an ONNX model: export it again with torch.onnx.export"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty onnx", []string{"inspect", "$DIR/empty.onnx"},
			"onnx: model $DIR/empty.onnx: invalid ONNX model: the file is empty; export the model again with torch.onnx.export"},
		{"truncated onnx", []string{"inspect", "$DIR/truncated.onnx"},
			"onnx: model $DIR/truncated.onnx: invalid ONNX model: not a readable ONNX protobuf (proto: cannot parse invalid wire-format data)" + reexport},
		{"garbage onnx", []string{"inspect", "$DIR/garbage.onnx"},
			"onnx: model $DIR/garbage.onnx: invalid ONNX model: not a readable ONNX protobuf (proto: cannot parse invalid wire-format data)" + reexport},
		{"unsupported op", []string{"inspect", "$DIR/hardmax.onnx"},
			`model $DIR/hardmax.onnx: onnx: unsupported operator: Hardmax (node "/Relu"); mpq supports ` + strings.Join(engine.SupportedOps(), ", ")},
		{"size disagrees with data", []string{"inspect", "$DIR/size.onnx"},
			`onnx: model $DIR/size.onnx: invalid ONNX model: tensor "conv1.weight" (float32) declares shape [6 1 5 6] = 180 elements but holds 150; the file is corrupt: export it again`},
		{"absurd dimensions", []string{"inspect", "$DIR/absurd.onnx"},
			`onnx: model $DIR/absurd.onnx: invalid ONNX model: tensor "conv1.weight" declares dimension 0 = 1099511627776, which is absurd; the file is corrupt: export it again`},
		{"huge dimensions", []string{"inspect", "$DIR/huge.onnx"}, // and no 4 GiB allocation (checked below)
			`onnx: model $DIR/huge.onnx: invalid ONNX model: tensor "conv1.weight" (float32) declares shape [32768 32768] = 1073741824 elements but holds 150; the file is corrupt: export it again`},
		{"absurd input dimension", []string{"inspect", "$DIR/absurd-input.onnx"},
			`onnx: model $DIR/absurd-input.onnx: invalid ONNX model: graph input or output "input" declares dimension 2 = 1099511627776, which is absurd; the file is corrupt: export it again`},
		{"NaN weight", []string{"inspect", "$DIR/nan.onnx"},
			`model $DIR/nan.onnx: onnx: initializer "conv1.weight" contains NaN or Inf; the model's weights are broken: retrain or re-export it`},
		{"Inf weight", []string{"eval", "-c", "$DIR/inf.yaml"},
			`model $DIR/inf.onnx: onnx: initializer "conv1.weight" contains NaN or Inf; the model's weights are broken: retrain or re-export it`},
		{"search on a truncated model", []string{"search", "-c", "$DIR/truncated.yaml"},
			"onnx: model $DIR/truncated.onnx: invalid ONNX model: not a readable ONNX protobuf (proto: cannot parse invalid wire-format data)" + reexport},
		{"search on a NaN model", []string{"search", "-c", "$DIR/nan.yaml"},
			`model $DIR/nan.onnx: onnx: initializer "conv1.weight" contains NaN or Inf; the model's weights are broken: retrain or re-export it`},
		{"search on a garbage model", []string{"search", "-c", "$DIR/garbage.yaml"},
			"onnx: model $DIR/garbage.onnx: invalid ONNX model: not a readable ONNX protobuf (proto: cannot parse invalid wire-format data)" + reexport},
		{"NaN input", []string{"search", "-c", "$DIR/nan-input.yaml"},
			"dataset: $DIR/data/x-nan.npy: sample 5 has a non-finite input value (NaN at element 300); clean the data (for example numpy.nan_to_num) first"},
		{"Inf input", []string{"eval", "-c", "$DIR/inf-input.yaml"},
			"dataset: $DIR/data/x-inf.npy: sample 3 has a non-finite input value (+Inf at element 10); clean the data (for example numpy.nan_to_num) first"},
		{"sample shape", []string{"search", "-c", "$DIR/shape.yaml"},
			`dataset: split "test" ($DIR/data/x-10.npy): samples have shape [10] (10 values) but the model's input takes shape [1 28 28] (784 values) per sample: the dataset does not fit the model's input`},
		{"empty dataset", []string{"search", "-c", "$DIR/empty-data.yaml"},
			"dataset: $DIR/data/x-empty.npy: the dataset is empty (0 samples)"},
		{"label out of range", []string{"search", "-c", "$DIR/label-10.yaml"},
			`dataset: split "test" ($DIR/data/x.npy): sample 9 has label 10 but the model has 10 classes (labels 0 to 9); check that the dataset matches the model`},
		{"negative label", []string{"eval", "-c", "$DIR/label-neg.yaml"},
			"dataset: $DIR/data/x.npy: sample 4 has label -1; labels must be class indices 0, 1, 2, ..."},
		{"labels count", []string{"search", "-c", "$DIR/count.yaml"},
			"dataset: $DIR/data/x.npy has 32 samples but $DIR/data/y-short.npy has 31 labels; inputs and labels must come from the same split"},
		{"IDX magic", []string{"search", "-c", "$DIR/magic.yaml"},
			"dataset: $DIR/data/magic-images: magic number 0x00000802, expected 0x00000803 (unsigned bytes, 3 dimensions): the file is not an IDX image file"},
		{"IDX labels magic", []string{"eval", "-c", "$DIR/magic-labels.yaml"},
			"dataset: $DIR/data/magic-labels: magic number 0x00000803, expected 0x00000801 (unsigned bytes, 1 dimension): the file is not an IDX label file; it looks like an IDX image file: are images and labels swapped?"},
		{"unknown key", []string{"search", "-c", "$DIR/unknown-key.yaml"},
			`$DIR/unknown-key.yaml:9: search.samplr: unknown key in search; did you mean "sampler"?`},
		{"wrong type", []string{"search", "-c", "$DIR/wrong-type.yaml"},
			`$DIR/wrong-type.yaml:9: search.trials: expected an integer, got "many"`},
		{"negative count", []string{"search", "-c", "$DIR/negative-count.yaml"},
			"$DIR/negative-count.yaml:5: evaluation.count: -16; a count must be at least 1"},
		{"bits out of range", []string{"search", "-c", "$DIR/bits.yaml"},
			"$DIR/bits.yaml:9: search.weight_bits[0]: 0 is not a supported bitwidth; use 1 to 16, or 32 for float\n" +
				"$DIR/bits.yaml:9: search.weight_bits[2]: 17 is not a supported bitwidth; use 1 to 16, or 32 for float\n" +
				"$DIR/bits.yaml:9: search.weight_bits[3]: 33 is not a supported bitwidth; use 1 to 16, or 32 for float"},
		{"empty bit set", []string{"search", "-c", "$DIR/empty-bits.yaml"},
			"$DIR/empty-bits.yaml:9: search.activation_bits: empty; list at least one bitwidth, such as [4, 8]"},
		{"duplicate key", []string{"search", "-c", "$DIR/duplicate-key.yaml"},
			"$DIR/duplicate-key.yaml:9: study: key given twice (first on line 1); keep one"},
		{"missing config", []string{"search", "-c", "$DIR/nope.yaml"},
			"config: open $DIR/nope.yaml: no such file or directory"},
		{"plan with an unknown layer", []string{"eval", "-c", "$DIR/good.yaml", "--plan", "$DIR/plan-unknown.yaml"},
			`$DIR/plan-unknown.yaml: invalid plan: layer "/conv9/Conv" is not a quantizable layer of the model (its layers: /conv1/Conv, /conv2/Conv, /fc1/Gemm, /fc2/Gemm, /fc3/Gemm; see ` + "`mpq inspect`)"},
		{"plan with bits 0", []string{"eval", "-c", "$DIR/good.yaml", "--plan", "$DIR/plan-bits.yaml"},
			`$DIR/plan-bits.yaml: invalid plan: layer "conv1.weight": weight_bits 0: want 1–16, or 32 for float`},
		{"plan with a duplicate layer", []string{"eval", "-c", "$DIR/good.yaml", "--plan", "$DIR/plan-dup.yaml"},
			`$DIR/plan-dup.yaml:3: invalid plan: mapping key "conv1.weight" already defined at line 2; keep one`},
		{"plan with an unknown key", []string{"eval", "-c", "$DIR/good.yaml", "--plan", "$DIR/plan-key.yaml"},
			`$DIR/plan-key.yaml:2: invalid plan: unknown key "wieght_bits"; a layer takes weight_bits, activation_bits, weight_quantizer and calibration`},
		{"missing database directory", []string{"search", "-c", "$DIR/missing-dir.yaml"},
			"store: cannot create database $DIR/nowhere/study.db: directory $DIR/nowhere does not exist; create it or change study.storage"},
		{"no server", []string{"search", "-c", "$DIR/no-server.yaml"},
			"store: cannot connect to PostgreSQL at 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused); start the server or fix study.storage"},
		{"no server, studies", []string{"studies", "--storage", "postgres://mpq:secret@127.0.0.1:1/x?sslmode=disable"},
			"store: cannot connect to PostgreSQL at 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused); start the server or fix study.storage"},
		{"export of a missing study", []string{"export", "-c", "$DIR/no-study.yaml"},
			`search: study "nothing-here" is not in sqlite://$DIR/study.db, which holds "kept": run ` + "`mpq search -c $DIR/no-study.yaml`" + ` first, or set study.name to one of those: store: study not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := runCLI(t, tc.args[0], "--help"); err != nil {
				t.Skipf("no %s command in this build: %v", tc.args[0], err)
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc
			msg, elapsed := runHostile(t, args...)
			runtime.ReadMemStats(&ms)
			msg = strings.ReplaceAll(strings.ReplaceAll(msg, dir, "$DIR"), root, "$ROOT")
			if msg != tc.want {
				t.Errorf("mpq %s:\n got: %s\nwant: %s", strings.Join(tc.args, " "), msg, tc.want)
			}
			if grew := ms.TotalAlloc - alloc; grew > 1<<30 {
				t.Errorf("allocated %d MiB before failing", grew>>20)
			}
			if elapsed > 15*time.Second {
				t.Errorf("took %v to fail", elapsed)
			}
			if s := dbState(t, db); s != state {
				t.Errorf("the study database changed")
				state = s
			}
		})
	}
	checkKept(t, "after the hostile inputs", before, readStudy(t, "sqlite://"+db, "kept"))
	for _, p := range []string{"nowhere", "fresh.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("a failed command created %s", p)
		}
	}
}

// TestHostileExitCodes runs the real binary: a failure prints "mpq: " and
// the message on standard error and exits with status 1, without a panic.
// The read-only cases run the binary as user nobody when the tests run as
// root, since root writes through any permission.
func TestHostileExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mpq binary")
	}
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := hostileFiles{t: t, dir: dir}
	root := repoRoot()
	_, raw := lenetProto(t)
	h.write("truncated.onnx", raw[:len(raw)/3])
	lenet := filepath.Join(root, "testdata", "models", "lenet.onnx")
	data := fmt.Sprintf("  test: {format: idx, images: %s/t10k-images-idx3-ubyte.gz, labels: %[1]s/t10k-labels-idx1-ubyte.gz}", filepath.Join(root, "testdata", "mnist"))
	roDir := h.write("ro-dir.yaml", []byte(hostileConfig(lenet, data, "ro/study.db", "kept")))
	roFile := h.write("ro-file.yaml", []byte(hostileConfig(lenet, data, "rw/study.db", "kept")))
	for _, c := range []string{roDir, roFile} {
		if _, logs, err := runCLI(t, "search", "-c", c); err != nil {
			if os.MkdirAll(filepath.Join(dir, "ro"), 0o755) == nil && os.MkdirAll(filepath.Join(dir, "rw"), 0o755) == nil {
				_, logs, err = runCLI(t, "search", "-c", c)
			}
			if err != nil {
				t.Fatalf("setting up %s: %v\n%s", c, err, logs)
			}
		}
	}
	roDB, rwDB := filepath.Join(dir, "ro", "study.db"), filepath.Join(dir, "rw", "study.db")
	before := map[string]string{roDB: dbState(t, roDB), rwDB: dbState(t, rwDB)}
	if os.Getuid() == 0 {
		// The files belong to nobody, who runs the binary: only the
		// permissions stand in its way.
		for _, p := range []string{filepath.Dir(roDB), roDB, filepath.Dir(rwDB), rwDB} {
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(filepath.Dir(roDB), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(rwDB, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Dir(roDB), 0o755) })

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"truncated model", []string{"inspect", "$DIR/truncated.onnx"},
			"mpq: onnx: model $DIR/truncated.onnx: invalid ONNX model: not a readable ONNX protobuf (proto: cannot parse invalid wire-format data); the file is truncated or not an ONNX model: export it again with torch.onnx.export\n"},
		{"read-only database directory", []string{"search", "-c", "$DIR/ro-dir.yaml"},
			"mpq: store: cannot write database $DIR/ro/study.db: directory $DIR/ro is read-only (SQLite needs to create study.db-wal and study.db-shm next to it); make it writable or change study.storage\n"},
		{"read-only database file", []string{"search", "-c", "$DIR/ro-file.yaml"},
			"mpq: store: cannot write database $DIR/rw/study.db: the file is read-only; mpq records trials in it: make it writable (chmod u+w) or copy it\n"},
		{"no server", []string{"studies", "--storage", "postgres://mpq@127.0.0.1:1/x?sslmode=disable&connect_timeout=3"},
			"mpq: store: cannot connect to PostgreSQL at 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused); start the server or fix study.storage\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}
			cmd := exec.Command(mpqBinary(t), args...)
			cmd.Dir = dir
			if os.Getuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("mpq %s: %v, want exit status 1\n%s", strings.Join(tc.args, " "), err, stderr.String())
			}
			if got := strings.ReplaceAll(stderr.String(), dir, "$DIR"); got != tc.want {
				t.Errorf("standard error:\n got: %q\nwant: %q", got, tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("standard output: %q", stdout.String())
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
	for db, state := range before {
		if got := dbState(t, db); got != state {
			t.Errorf("%s changed", db)
		}
	}
}
