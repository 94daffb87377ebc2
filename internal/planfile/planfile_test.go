package planfile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// sample is a set with awkward floats (no short decimal form, tiny, an
// exact binary fraction) and layers whose names sort differently from their
// model order.
func sample() *Set {
	return &Set{
		Study:      "s",
		Objectives: []string{"accuracy", "size_bits", "bops"},
		Model: []LayerInfo{
			{Name: "/z/Conv", Quantizers: []string{"uniform"}},
			{Name: "/a/Gemm", Quantizers: []string{"uniform", "kmeans"}},
		},
		Plans: []Plan{
			{Trial: 7, Provenance: "seed", Accuracy: 0.1 + 0.2, Loss: 1.0 / 3, SizeBits: 1 << 40, BOPs: 123456789012,
				Layers: Layers{{"/z/Conv", 4, 8, "uniform"}, {"/a/Gemm", 2, 32, "kmeans"}}},
			{Trial: 12, Provenance: "sampler", Accuracy: 0.9765625, Loss: 1e-7, SizeBits: 96, BOPs: 0,
				Layers: Layers{{"/z/Conv", 8, 8, "uniform"}, {"/a/Gemm", 32, 32, "uniform"}}},
		},
	}
}

func write(t *testing.T, s *Set, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, s, format); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestShape checks that JSON and YAML hold exactly the documented keys, keep
// the model's layer order, and read back to the same values bit for bit.
func TestShape(t *testing.T) {
	want := sample()
	for _, tc := range []struct {
		format    string
		unmarshal func([]byte, any) error
	}{
		{JSON, json.Unmarshal},
		{YAML, yaml.Unmarshal},
	} {
		t.Run(tc.format, func(t *testing.T) {
			data := write(t, want, tc.format)
			var doc map[string]any
			if err := tc.unmarshal(data, &doc); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if got := keys(doc); !slices.Equal(got, []string{"objectives", "plans", "study"}) {
				t.Errorf("top-level keys %v", got)
			}
			plans := doc["plans"].([]any)
			if len(plans) != 2 {
				t.Fatalf("%d plans", len(plans))
			}
			plan := plans[0].(map[string]any)
			if got := keys(plan); !slices.Equal(got, []string{"accuracy", "bops", "layers", "loss", "provenance", "size_bits", "trial"}) {
				t.Errorf("plan keys %v", got)
			}
			layer := plan["layers"].(map[string]any)["/a/Gemm"].(map[string]any)
			if got := keys(layer); !slices.Equal(got, []string{"activation_bits", "weight_bits", "weight_quantizer"}) {
				t.Errorf("layer keys %v", got)
			}
			if i, j := bytes.Index(data, []byte("/z/Conv")), bytes.Index(data, []byte("/a/Gemm")); i < 0 || j < i {
				t.Errorf("layers not in model order:\n%s", data)
			}
			var got Set
			if err := tc.unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Plans, want.Plans) || got.Study != want.Study || !slices.Equal(got.Objectives, want.Objectives) {
				t.Errorf("read back\n%+v\nwant\n%+v", got.Plans, want.Plans)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	want := sample()
	rows, err := csv.NewReader(bytes.NewReader(write(t, want, CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"trial", "provenance", "accuracy", "loss", "size_bits", "bops",
		"/z/Conv.weight_bits", "/z/Conv.activation_bits",
		"/a/Gemm.weight_bits", "/a/Gemm.activation_bits", "/a/Gemm.weight_quantizer"}
	if !slices.Equal(rows[0], header) {
		t.Fatalf("header %q\nwant   %q", rows[0], header)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want a header and 2 plans", len(rows))
	}
	for i, p := range want.Plans {
		r := rows[i+1]
		acc, _ := strconv.ParseFloat(r[2], 64)
		loss, _ := strconv.ParseFloat(r[3], 64)
		if r[0] != strconv.Itoa(p.Trial) || r[1] != p.Provenance || acc != p.Accuracy || loss != p.Loss ||
			r[4] != strconv.FormatInt(p.SizeBits, 10) || r[5] != strconv.FormatInt(p.BOPs, 10) {
			t.Errorf("row %d %q does not match %+v", i, r, p)
		}
	}
	if got := rows[1][6:]; !slices.Equal(got, []string{"4", "8", "2", "32", "kmeans"}) {
		t.Errorf("layer columns %q", got)
	}

	// Without Model (a set read from a file), columns come from the plans:
	// the quantizer column only where a plan uses a non-uniform one.
	noModel := sample()
	noModel.Model = nil
	rows2, _ := csv.NewReader(bytes.NewReader(write(t, noModel, CSV))).ReadAll()
	if !slices.Equal(rows2[0], header) {
		t.Errorf("header without Model %q", rows2[0])
	}
}

func TestWriteErrors(t *testing.T) {
	s := sample()
	if err := Write(&bytes.Buffer{}, s, "xml"); err == nil || !strings.Contains(err.Error(), "yaml, json, csv") {
		t.Errorf("unknown format: %v", err)
	}
	s.Plans[1].Loss = math.NaN()
	if err := Write(&bytes.Buffer{}, s, JSON); err == nil || !strings.Contains(err.Error(), "trial 12: loss NaN") {
		t.Errorf("NaN loss: %v", err)
	}
	var l Layers
	if err := yaml.Unmarshal([]byte("{a: {weight_bits: 2}, a: {weight_bits: 4}}"), &l); err == nil {
		t.Error("duplicate layer: no error")
	}
	if err := json.Unmarshal([]byte(`{"a": {"weight_bits": 2}, "a": {"weight_bits": 4}}`), &l); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate layer in JSON: %v", err)
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]string{"a.yaml": YAML, "b.YML": YAML, "c.json": JSON, "d/e.csv": CSV, "f.txt": "", "g": ""} {
		got, ok := FormatOf(path)
		if got != want || ok != (want != "") {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

// TestEmptySet writes a set without plans: JSON holds [] rather than null.
func TestEmptySet(t *testing.T) {
	data := write(t, &Set{Study: "s"}, JSON)
	if !bytes.Contains(data, []byte(`"plans": []`)) || !bytes.Contains(data, []byte(`"objectives": []`)) {
		t.Errorf("%s", data)
	}
}

// TestYAMLQuotesNames round-trips layer names that YAML would otherwise read
// as booleans, numbers or mappings.
func TestYAMLQuotesNames(t *testing.T) {
	s := &Set{Study: "s", Plans: []Plan{{Trial: 1, Layers: Layers{{"on", 4, 8, "uniform"}, {"8", 2, 4, "uniform"}, {"a: b", 8, 8, "uniform"}, {"#c", 3, 3, "uniform"}}}}}
	var got Set
	if err := yaml.Unmarshal(write(t, s, YAML), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Plans, s.Plans) {
		t.Errorf("read back %+v", got.Plans)
	}
}
