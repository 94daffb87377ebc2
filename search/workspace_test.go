package search

import (
	"context"
	"math"
	"slices"
	"testing"

	"mpq/evaluator"
	"mpq/internal/config"
)

// TestEvaluationOrder checks that the evaluator visits the evaluation
// subset in a fixed shuffled order: the same samples, the same order in
// every workspace, not the file order, and the same accuracy.
func TestEvaluationOrder(t *testing.T) {
	cfg, err := config.Load(studyConfig(t, "random", ""))
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Workspace {
		ws, err := OpenWorkspace(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	ws, ws2 := open(), open()
	sub, err := ws.Subset(cfg.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ws.evaluationSet()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ws2.evaluationSet()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Labels, b.Labels) || !slices.Equal(a.X, b.X) {
		t.Fatal("two workspaces shuffle the evaluation subset differently")
	}
	if slices.Equal(a.Labels, sub.Labels) {
		t.Fatal("the evaluation order is the file order")
	}
	// Same samples: every shuffled sample is some subset sample with its label.
	s := sub.SampleLen()
	index := map[string]int{}
	for i := range sub.Len() {
		index[string(float32Bytes(sub.X[i*s:(i+1)*s]))+string(rune(sub.Labels[i]))]++
	}
	for i := range a.Len() {
		k := string(float32Bytes(a.X[i*s:(i+1)*s])) + string(rune(a.Labels[i]))
		if index[k] == 0 {
			t.Fatalf("shuffled sample %d is not in the subset", i)
		}
		index[k]--
	}
	ctx := context.Background()
	ev, err := ws.Evaluator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Evaluate(ctx, evaluator.FloatPlan(ws.Model))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := evaluator.New(ws.Model, sub, cfg.Evaluation.Batch, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Evaluate(ctx, evaluator.FloatPlan(ws.Model))
	if err != nil {
		t.Fatal(err)
	}
	if got.Correct != want.Correct || got.Samples != want.Samples {
		t.Errorf("shuffled: %d/%d correct, file order: %d/%d", got.Correct, got.Samples, want.Correct, want.Samples)
	}
}

func float32Bytes(v []float32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, f := range v {
		u := math.Float32bits(f)
		out = append(out, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return out
}
