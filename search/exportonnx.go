package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"mpq/evaluator"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
	"mpq/internal/qdq"
)

// ONNXExport is a plan written into the workspace's model as a QDQ ONNX
// model (package qdq), with the quantization it carries.
type ONNXExport struct {
	*qdq.Result
	Plan  evaluator.Plan
	Quant []evaluator.LayerQuant

	calib   *evaluator.Calibration
	weights *evaluator.WeightCache
}

// ExportONNX quantizes plan p exactly as the search evaluates it — the
// config's calibration, and for kmeans-hessian the sensitivity analysis's
// Hessian diagonal (from the study database's cache, or computed) — and
// rewrites the workspace's model file into a QDQ model.
func ExportONNX(ctx context.Context, ws *Workspace, p evaluator.Plan) (*ONNXExport, error) {
	if err := p.Validate(ws.Model); err != nil {
		return nil, err
	}
	path := ws.Config.Resolve(ws.Config.Model)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	if sum := sha256.Sum256(src); hex.EncodeToString(sum[:]) != ws.ModelHash {
		return nil, fmt.Errorf("model %s changed since mpq loaded it; run the command again", path)
	}
	x := &ONNXExport{Plan: p, weights: evaluator.NewWeightCache(ws.Model)}
	if needsCalibration(p) {
		if x.calib, err = ws.Calibrate(ctx); err != nil {
			return nil, err
		}
	}
	if usesHessian(p) {
		if err := hessianInto(ctx, ws, x.weights); err != nil {
			return nil, err
		}
	}
	if x.Quant, err = evaluator.Quantization(ws.Model, p, x.calib, x.weights); err != nil {
		return nil, err
	}
	layers := make([]qdq.Layer, len(x.Quant))
	for i, q := range x.Quant {
		layers[i] = qdq.Layer{WeightBits: q.Spec.WeightBits, ActivationBits: q.Spec.ActivationBits, Method: q.Spec.WeightQuantizer,
			Weight: q.Weight, Scales: q.Scales, Codes: q.Codes}
		if in := q.Input; in != nil {
			layers[i].Input = &qdq.Activation{Bits: in.Bits, Scale: in.Scale32(), ZeroPoint: in.ZeroPoint,
				Min: in.Range.Min, Max: in.Range.Max, Calibration: in.Method}
		}
	}
	if x.Result, err = qdq.Export(src, ws.Model, layers, qdq.Options{Version: Version, Source: filepath.Base(path)}); err != nil {
		return nil, err
	}
	return x, nil
}

// hessianInto gives the cache the sensitivity analysis's Hessian-diagonal
// estimates, as the search does for kmeans-hessian.
func hessianInto(ctx context.Context, ws *Workspace, cache *evaluator.WeightCache) error {
	st, err := OpenStore(ctx, ws.Config)
	if err != nil {
		return err
	}
	defer st.Close()
	t, _, err := RunSensitivity(ctx, ws, st, nil)
	if err != nil && !errors.Is(err, ErrSensitivityCache) {
		return err
	}
	for l, d := range t.HessianDiag {
		if d != nil {
			if err := cache.SetHessianDiag(l, t.ClampedDiag(l)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verification compares a plan's fake-quantized evaluation with the exported
// model's, run by mpq's runtime as a plain float model, on the config's
// evaluation subset.
type Verification struct {
	Samples       int     `json:"samples"`
	PlanAccuracy  float64 `json:"plan_accuracy"`
	ModelAccuracy float64 `json:"model_accuracy"`
	PlanLoss      float64 `json:"plan_loss"`
	ModelLoss     float64 `json:"model_loss"`
}

// Verify evaluates the plan and the exported model.
func (x *ONNXExport) Verify(ctx context.Context, ws *Workspace) (Verification, error) {
	var v Verification
	data, err := ws.Subset(ws.Config.Evaluation)
	if err != nil {
		return v, err
	}
	batch := ws.Config.Evaluation.Batch
	ev, err := evaluator.New(ws.Model, data, batch, x.calib, x.weights)
	if err != nil {
		return v, err
	}
	pr, err := ev.Evaluate(ctx, x.Plan)
	if err != nil {
		return v, err
	}
	em, err := x.Runtime()
	if err != nil {
		return v, err
	}
	eev, err := evaluator.New(em, data, batch, nil, nil)
	if err != nil {
		return v, err
	}
	mr, err := eev.Evaluate(ctx, evaluator.FloatPlan(em))
	if err != nil {
		return v, fmt.Errorf("the exported model: %w", err)
	}
	return Verification{Samples: pr.Samples, PlanAccuracy: pr.Accuracy, ModelAccuracy: mr.Accuracy, PlanLoss: pr.Loss, ModelLoss: mr.Loss}, nil
}

// Runtime loads the exported model into mpq's runtime.
func (x *ONNXExport) Runtime() (*engine.Model, error) {
	g, err := onnxio.Decode(x.Model)
	if err != nil {
		return nil, fmt.Errorf("the exported model: %w", err)
	}
	m, err := engine.New(g)
	if err != nil {
		return nil, fmt.Errorf("the exported model: %w", err)
	}
	return m, nil
}
