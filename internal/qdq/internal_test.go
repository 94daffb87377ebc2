package qdq

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestExplicitZeros checks that zero attribute values reach the wire, as
// ONNX's proto2 schema has them (ceil_mode = 0, axis = 0).
func TestExplicitZeros(t *testing.T) {
	g := &onnx.GraphProto{Node: []*onnx.NodeProto{{OpType: "X", Attribute: []*onnx.AttributeProto{
		{Name: "i", Type: onnx.AttributeProto_INT},
		{Name: "f", Type: onnx.AttributeProto_FLOAT},
		{Name: "s", Type: onnx.AttributeProto_STRING},
		{Name: "one", Type: onnx.AttributeProto_INT, I: 1},
	}}}}
	explicitZeros(g)
	for _, tc := range []struct {
		attr int
		want []byte
	}{
		{0, protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 0)},
		{1, protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0)},
		{2, protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil)},
	} {
		a := g.Node[0].Attribute[tc.attr]
		b, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, tc.want) {
			t.Errorf("attribute %s: wire % x lacks % x", a.Name, b, tc.want)
		}
		var back onnx.AttributeProto
		if err := proto.Unmarshal(b, &back); err != nil || back.GetType() != a.GetType() {
			t.Errorf("attribute %s does not read back: %v", a.Name, err)
		}
	}
	if u := g.Node[0].Attribute[3].ProtoReflect().GetUnknown(); len(u) != 0 {
		t.Errorf("a non-zero attribute got unknown bytes % x", u)
	}
}

// TestClipBounds checks that the Clip bounds quantize, in float32 as
// runtimes compute QuantizeLinear, to codes 0 and 2^b−1, for random scales,
// zero points and bitwidths.
func TestClipBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		bits := 1 + rng.IntN(7)
		qmax := 1<<bits - 1
		zp := rng.IntN(qmax + 1)
		scale := float32(math.Exp(rng.Float64()*20 - 12))
		lo, hi := clipBounds(scale, zp, qmax)
		code := func(x float32) int { return int(math.RoundToEven(float64(x/scale))) + zp }
		if code(lo) != 0 || code(hi) != qmax {
			t.Fatalf("scale %v zp %d bits %d: bounds [%v, %v] quantize to %d and %d", scale, zp, bits, lo, hi, code(lo), code(hi))
		}
		// Dequantized, the ends are the grid's ends.
		if d := float32(qmax-zp) * scale; (float32(code(hi)-zp) * scale) != d {
			t.Fatalf("upper end dequantizes to %v, want %v", float32(code(hi)-zp)*scale, d)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"--layerPrecisions=/conv1/Conv:int8,fc:fp16": "--layerPrecisions=/conv1/Conv:int8,fc:fp16",
		"my model.onnx": "'my model.onnx'",
		"it's":          `'it'\''s'`,
		"":              "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
