package store

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// sameFloat treats NaN as equal to NaN.
func sameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

func sameResult(a, b TrialResult) bool {
	if !a.Created.Equal(b.Created) || len(a.Objectives) != len(b.Objectives) {
		return false
	}
	for i := range a.Objectives {
		if !sameFloat(a.Objectives[i], b.Objectives[i]) {
			return false
		}
	}
	for _, p := range [][2]float64{{a.Accuracy, b.Accuracy}, {a.Loss, b.Loss}, {a.SizeBits, b.SizeBits}, {a.BOPs, b.BOPs}, {a.Violation, b.Violation}, {a.WallSeconds, b.WallSeconds}} {
		if !sameFloat(p[0], p[1]) {
			return false
		}
	}
	a.Objectives, b.Objectives = nil, nil
	a.Accuracy, a.Loss, a.SizeBits, a.BOPs, a.Violation, a.WallSeconds = 0, 0, 0, 0, 0, 0
	b.Accuracy, b.Loss, b.SizeBits, b.BOPs, b.Violation, b.WallSeconds = 0, 0, 0, 0, 0, 0
	a.Created, b.Created = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestStudyMetaRoundTrip(t *testing.T) { forEachBackend(t, testStudyMetaRoundTrip) }

func testStudyMetaRoundTrip(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	clock := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	s.now = func() time.Time { return clock }

	if _, ok, err := s.StudyMeta(ctx, "resnet"); err != nil || ok {
		t.Fatalf("StudyMeta of a new study: ok=%v err=%v", ok, err)
	}
	m := StudyMeta{Study: "resnet", ConfigHash: "abc", ConfigYAML: "model: r.onnx\n", Objectives: []string{"accuracy", "size_bits"}, MPQVersion: "0.1.0"}
	must(t, s.PutStudyMeta(ctx, m))
	got, ok, err := s.StudyMeta(ctx, "resnet")
	must(t, err)
	want := m
	want.Created = clock.UTC().Truncate(time.Microsecond)
	want.Updated = want.Created
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("StudyMeta = %+v, %v\nwant %+v", got, ok, want)
	}

	// Update: same name, new content; Created stays.
	clock = clock.Add(time.Hour)
	m.ConfigHash, m.Objectives = "def", []string{"loss"}
	must(t, s.PutStudyMeta(ctx, m))
	got, _, err = s.StudyMeta(ctx, "resnet")
	must(t, err)
	if got.ConfigHash != "def" || !reflect.DeepEqual(got.Objectives, []string{"loss"}) ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(clock.UTC().Truncate(time.Microsecond)) {
		t.Errorf("after update: %+v", got)
	}
	if err := s.PutStudyMeta(ctx, StudyMeta{}); err == nil {
		t.Error("PutStudyMeta without a study name succeeded")
	}
}

func TestTrialResultRoundTrip(t *testing.T) { forEachBackend(t, testTrialResultRoundTrip) }

func testTrialResultRoundTrip(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	plan := map[string]LayerChoice{
		"conv1": {WeightBits: 8, ActivationBits: 8, WeightQuantizer: "minmax"},
		"fc":    {WeightBits: 4, ActivationBits: 8, WeightQuantizer: "mse"},
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	results := []TrialResult{
		{Study: "s", TrialID: 12, TrialNumber: 2, Provenance: ProvenanceSampler, Plan: plan, ConfigKey: "conv1=w8a8m;fc=w4a8s",
			Accuracy: 0.91, Loss: 0.3, SizeBits: 123456, BOPs: 7.5e9, Objectives: []float64{-0.91, 123456},
			Feasible: true, Samples: 512, WallSeconds: 1.25, Created: created},
		{Study: "s", TrialID: 10, TrialNumber: 0, Provenance: ProvenanceSeed, Plan: plan, ConfigKey: "conv1=w8a8m;fc=w4a8s",
			Accuracy: 0.90, Loss: math.NaN(), SizeBits: 123456, BOPs: math.NaN(), Objectives: []float64{math.NaN(), math.Inf(1), math.Inf(-1)},
			Feasible: false, Violation: math.Inf(1), Samples: 64, Pruned: true, WallSeconds: 0.1, Created: created},
		{Study: "s", TrialID: 11, TrialNumber: 1, Provenance: ProvenanceEnqueuedRetry, ConfigKey: strings.Repeat("long-key;", 500),
			Accuracy: math.NaN(), Loss: math.NaN(), SizeBits: math.NaN(), BOPs: math.NaN(), Violation: 0, WallSeconds: math.NaN(), Created: created},
		{Study: "other", TrialID: 13, TrialNumber: 0, ConfigKey: "conv1=w8a8m;fc=w4a8s", Samples: 1000, Created: created},
	}
	for _, r := range results {
		must(t, s.PutTrialResult(ctx, r))
	}
	got, err := s.TrialResults(ctx, "s")
	must(t, err)
	order := []int{1, 2, 0} // by trial number
	if len(got) != len(order) {
		t.Fatalf("%d results, want %d", len(got), len(order))
	}
	for i, j := range order {
		if !sameResult(got[i], results[j]) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], results[j])
		}
	}

	// ResultByKey prefers the complete evaluation over the pruned one
	// (trial 10, earlier but pruned) and stays inside the study.
	r, ok, err := s.ResultByKey(ctx, "s", "conv1=w8a8m;fc=w4a8s")
	must(t, err)
	if !ok || r.TrialID != 12 {
		t.Errorf("ResultByKey = trial %d, %v; want 12", r.TrialID, ok)
	}
	if r, ok, _ := s.ResultByKey(ctx, "s", strings.Repeat("long-key;", 500)); !ok || r.TrialID != 11 {
		t.Errorf("ResultByKey(long key) = trial %d, %v", r.TrialID, ok)
	}
	if _, ok, err := s.ResultByKey(ctx, "s", "never"); ok || err != nil {
		t.Errorf("ResultByKey(never) = %v, %v", ok, err)
	}

	// Putting the same trial again replaces it.
	again := results[0]
	again.Accuracy, again.Objectives = 0.95, []float64{-0.95, 1}
	must(t, s.PutTrialResult(ctx, again))
	got, _ = s.TrialResults(ctx, "s")
	if len(got) != 3 || !sameResult(got[2], again) {
		t.Errorf("after replacing trial 12: %+v", got)
	}
	if err := s.PutTrialResult(ctx, TrialResult{TrialID: 1}); err == nil {
		t.Error("PutTrialResult without a study succeeded")
	}
}

func TestFloatsJSON(t *testing.T) {
	for _, v := range [][]float64{nil, {}, {1, -2.5e-300, 1e300}, {math.NaN(), math.Inf(1), math.Inf(-1), 0}} {
		enc, err := encodeFloats(v)
		must(t, err)
		dec, err := decodeFloats(enc)
		must(t, err)
		if len(dec) != len(v) || (v == nil) != (dec == nil) {
			t.Fatalf("%v -> %q -> %v", v, enc, dec)
		}
		for i := range v {
			if !sameFloat(v[i], dec[i]) {
				t.Errorf("%v -> %q -> %v", v, enc, dec)
			}
		}
	}
	if _, err := decodeFloats(`["nonsense"]`); err == nil {
		t.Error("decoding a non-number string succeeded")
	}
}

func TestBlobRoundTrip(t *testing.T) { forEachBackend(t, testBlobRoundTrip) }

func testBlobRoundTrip(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	big := bytes.Repeat([]byte{0, 1, 2, 255}, 1<<18) // 1 MiB, NUL bytes included
	cases := []struct {
		kind, key string
		data      []byte
	}{
		{"calibration", "model=abc/subset=256/minmax", []byte("ranges")},
		{"sensitivity", "model=abc/hessian", big},
		{"sensitivity", "empty", []byte{}},
	}
	for _, c := range cases {
		must(t, s.PutBlob(ctx, c.kind, c.key, c.data))
	}
	for _, c := range cases {
		got, ok, err := s.Blob(ctx, c.kind, c.key)
		if err != nil || !ok || !bytes.Equal(got, c.data) || got == nil {
			t.Errorf("Blob(%s, %s): %d bytes, %v, %v", c.kind, c.key, len(got), ok, err)
		}
	}
	if _, ok, err := s.Blob(ctx, "calibration", "model=abc/hessian"); ok || err != nil {
		t.Errorf("kinds must not share keys: %v, %v", ok, err)
	}
	must(t, s.PutBlob(ctx, "calibration", "model=abc/subset=256/minmax", []byte("v2")))
	if got, _, _ := s.Blob(ctx, "calibration", "model=abc/subset=256/minmax"); string(got) != "v2" {
		t.Errorf("overwritten blob = %q", got)
	}
	if err := s.PutBlob(ctx, "", "k", nil); err == nil {
		t.Error("PutBlob with an empty kind succeeded")
	}
}

func TestStudies(t *testing.T) { forEachBackend(t, testStudies) }

func testStudies(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	st := s.Storage()

	// "bits": mpq study, first objective accuracy, results recorded.
	bits := createStudy(t, s, "bits")
	states := []goptuna.TrialState{goptuna.TrialStateComplete, goptuna.TrialStateComplete, goptuna.TrialStatePruned,
		goptuna.TrialStateFail, goptuna.TrialStateRunning, goptuna.TrialStateComplete}
	for i, state := range states {
		id, err := st.CreateNewTrial(bits.ID)
		must(t, err)
		if state != goptuna.TrialStateRunning {
			must(t, st.SetTrialValue(id, float64(i)))
			must(t, st.SetTrialState(id, state))
		}
		must(t, s.PutTrialResult(ctx, TrialResult{Study: "bits", TrialID: id, TrialNumber: i, Accuracy: []float64{0.8, 0.9, 0.99, 0.5, 0.7, 0.95}[i],
			Feasible: i != 5, Pruned: state == goptuna.TrialStatePruned}))
	}
	must(t, bits.EnqueueTrial(map[string]float64{}))
	must(t, s.PutStudyMeta(ctx, StudyMeta{Study: "bits", Objectives: []string{"accuracy", "size_bits"}}))

	// "plain": goptuna only, maximized.
	plain := createStudy(t, s, "plain", goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize))
	for _, v := range []float64{3, 7, 5} {
		id, err := st.CreateNewTrial(plain.ID)
		must(t, err)
		must(t, st.SetTrialValue(id, v))
		must(t, st.SetTrialState(id, goptuna.TrialStateComplete))
	}
	// "planned": metadata only; "empty": a study without trials.
	must(t, s.PutStudyMeta(ctx, StudyMeta{Study: "planned", Objectives: []string{"loss"}}))
	createStudy(t, s, "empty")

	got, err := s.Studies(ctx)
	must(t, err)
	names := make([]string, len(got))
	for i, g := range got {
		names[i] = g.Name
	}
	if !reflect.DeepEqual(names, []string{"bits", "empty", "plain", "planned"}) {
		t.Fatalf("studies %v", names)
	}
	b := got[0]
	if b.ID != bits.ID || b.Complete != 3 || b.Pruned != 1 || b.Fail != 1 || b.Running != 1 || b.Waiting != 1 || !b.HasMeta {
		t.Errorf("bits: %+v", b)
	}
	// Best accuracy among feasible, unpruned results: 0.99 is pruned,
	// 0.95 infeasible.
	if b.Objective != "accuracy" || !b.HasBest || b.Best != 0.9 {
		t.Errorf("bits best: %s = %v (%v), want accuracy = 0.9", b.Objective, b.Best, b.HasBest)
	}
	if b.Started.IsZero() || time.Since(b.Started) > time.Minute {
		t.Errorf("bits started %v", b.Started)
	}
	if e := got[1]; e.HasBest || e.Complete != 0 || !e.Started.IsZero() || e.Objective != "value" {
		t.Errorf("empty: %+v", e)
	}
	if p := got[2]; p.Direction != "maximize" || p.Objective != "value" || !p.HasBest || p.Best != 7 || p.Complete != 3 || p.HasMeta {
		t.Errorf("plain: %+v", p)
	}
	if p := got[3]; p.ID != 0 || !p.HasMeta || p.HasBest {
		t.Errorf("planned: %+v", p)
	}
}

func TestFailStale(t *testing.T) { forEachBackend(t, testFailStale) }

func testFailStale(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	st := s.Storage()
	study := createStudy(t, s, "stale")
	cat := goptuna.CategoricalDistribution{Choices: choices}
	newTrial := func(param float64) int {
		id, err := st.CreateNewTrial(study.ID)
		must(t, err)
		must(t, st.SetTrialParam(id, "layer0", param, cat))
		return id
	}
	done := newTrial(0)
	must(t, st.SetTrialValue(done, 1))
	must(t, st.SetTrialState(done, goptuna.TrialStateComplete))
	noBeat := newTrial(1)  // started long ago, never beat: stale
	oldBeat := newTrial(2) // beat long ago: stale
	live := newTrial(3)    // beats: alive
	young := newTrial(1)   // started recently, no beat yet: alive

	// Trials started "now"; move the clock so that the first ones look old.
	start := time.Now()
	s.now = func() time.Time { return start.Add(10 * time.Minute) }
	must(t, s.Heartbeat(ctx, oldBeat))
	s.now = func() time.Time { return start.Add(60 * time.Minute) }
	must(t, s.Heartbeat(ctx, live))
	must(t, s.Heartbeat(ctx, live)) // beating twice updates the row
	must(t, s.db.Exec("UPDATE trials SET datetime_start = ? WHERE trial_id = ?", start.Add(59*time.Minute), young).Error)

	if _, err := st.GetAllTrials(study.ID); err != nil { // warm the cache
		t.Fatal(err)
	}
	failed, err := s.FailStale(ctx, "stale", 5*time.Minute)
	must(t, err)
	var ids []int
	for _, tr := range failed {
		ids = append(ids, tr.ID)
		if tr.State != goptuna.TrialStateFail || tr.DatetimeComplete.IsZero() {
			t.Errorf("returned trial %d: state %v, completed %v", tr.ID, tr.State, tr.DatetimeComplete)
		}
		if _, ok := tr.InternalParams["layer0"]; !ok {
			t.Errorf("returned trial %d lacks its params: %v", tr.ID, tr.InternalParams)
		}
	}
	if !reflect.DeepEqual(ids, []int{noBeat, oldBeat}) {
		t.Fatalf("failed trials %v, want %v", ids, []int{noBeat, oldBeat})
	}
	if failed[1].InternalParams["layer0"] != 2 || failed[1].Params["layer0"] != "8" {
		t.Errorf("params of trial %d: %v %v", oldBeat, failed[1].InternalParams, failed[1].Params)
	}
	all, err := st.GetAllTrials(study.ID)
	must(t, err)
	sameTrials(t, "after FailStale", all, uncached(t, s, study.ID))
	want := map[int]goptuna.TrialState{done: goptuna.TrialStateComplete, noBeat: goptuna.TrialStateFail, oldBeat: goptuna.TrialStateFail,
		live: goptuna.TrialStateRunning, young: goptuna.TrialStateRunning}
	for _, tr := range all {
		if tr.State != want[tr.ID] {
			t.Errorf("trial %d: %v, want %v", tr.ID, tr.State, want[tr.ID])
		}
	}
	var beats []heartbeatModel
	must(t, s.db.Find(&beats).Error)
	if len(beats) != 1 || beats[0].TrialID != live {
		t.Errorf("heartbeats left: %+v, want only trial %d", beats, live)
	}

	// Re-enqueue the failed configurations: they run as new trials.
	for _, tr := range failed {
		must(t, study.EnqueueTrial(tr.InternalParams))
	}
	var seen []string
	must(t, study.Optimize(func(tr goptuna.Trial) (float64, error) {
		c, err := tr.SuggestCategorical("layer0", choices)
		seen = append(seen, c)
		return 0, err
	}, 2))
	if !reflect.DeepEqual(seen, []string{"4", "8"}) {
		t.Errorf("re-enqueued trials suggested %v, want [4 8]", seen)
	}

	// A second pass finds nothing; releasing the live trial's heartbeat and
	// waiting makes it stale.
	if again, err := s.FailStale(ctx, "stale", 5*time.Minute); err != nil || len(again) != 0 {
		t.Errorf("second FailStale: %d trials, %v", len(again), err)
	}
	must(t, s.Release(ctx, live))
	must(t, s.Release(ctx, live)) // releasing twice is fine
	s.now = func() time.Time { return start.Add(2 * time.Hour) }
	if again, err := s.FailStale(ctx, "stale", 5*time.Minute); err != nil || len(again) != 2 {
		t.Errorf("after release: %d trials failed, %v; want live and young", len(again), err)
	}

	if _, err := s.FailStale(ctx, "nope", time.Minute); !errors.Is(err, ErrStudyNotFound) {
		t.Errorf("FailStale(missing study): %v", err)
	}
	if _, err := s.FailStale(ctx, "stale", 0); err == nil {
		t.Error("FailStale(olderThan=0) succeeded")
	}
}
