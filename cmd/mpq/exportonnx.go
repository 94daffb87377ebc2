package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/qdq"
	"mpq/search"
)

// exportTolerance is how far (as a fraction) the exported model's accuracy
// may be from the plan's before export-onnx reports a failure.
const exportTolerance = 0.001

func newExportONNXCmd() *cobra.Command {
	var (
		cfgPath  string
		planPath string
		outPath  string
		trial    int
		verify   bool
	)
	cmd := &cobra.Command{
		Use:   "export-onnx -c CONFIG.yaml --plan FILE [--trial N] -o model.qdq.onnx",
		Short: "Write a plan into the model as a deployable QDQ ONNX file, with encodings and a TensorRT line",
		Long: `export-onnx writes the config's model with the plan's quantization as
QuantizeLinear/DequantizeLinear nodes (int8 weights, uint8 inputs), and next
to it the AIMET-layout encodings (.encodings.json) and a trtexec command
with per-layer precisions (.trtexec.txt). With --verify (the default) it
evaluates the plan and the exported file on the evaluation split and fails
if their accuracies differ by more than 0.1 percentage point.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := qdq.PathsFor(outPath)
			if err := qdq.CheckWritable(paths); err != nil {
				return err
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			ws, err := search.OpenWorkspace(cfg)
			if err != nil {
				return err
			}
			plan, err := evaluator.LoadPlan(planPath, ws.Model, trial)
			if err != nil {
				return err
			}
			x, err := search.ExportONNX(cmd.Context(), ws, plan)
			if err != nil {
				return err
			}
			if err := x.Write(paths); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			writeExportSummary(w, x, paths)
			if !verify {
				return nil
			}
			v, err := x.Verify(cmd.Context(), ws)
			if err != nil {
				return fmt.Errorf("export-onnx: verifying %s: %w", paths.Model, err)
			}
			fmt.Fprintf(w, "plan (fake-quantized)  accuracy %.4f  loss %.6f  (%d samples)\n", v.PlanAccuracy, v.PlanLoss, v.Samples)
			fmt.Fprintf(w, "exported model         accuracy %.4f  loss %.6f  (mpq's runtime, plain float model)\n", v.ModelAccuracy, v.ModelLoss)
			if d := math.Abs(v.ModelAccuracy - v.PlanAccuracy); d > exportTolerance {
				return fmt.Errorf("export-onnx: the exported model's accuracy %.4f differs from the plan's %.4f by %.2f points (more than %.1f); the files were written, but this is a bug in mpq: please report it with the plan and model",
					v.ModelAccuracy, v.PlanAccuracy, 100*d, 100*exportTolerance)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (YAML)")
	cmd.Flags().StringVar(&planPath, "plan", "", "bitwidth plan (YAML/JSON), or a plans file from `mpq export`")
	cmd.Flags().IntVar(&trial, "trial", -1, "with a plans file: the trial whose plan to export")
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "the QDQ ONNX file to write (e.g. model.qdq.onnx)")
	cmd.Flags().BoolVar(&verify, "verify", true, "evaluate the plan and the exported model and compare accuracies")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("plan")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func writeExportSummary(w io.Writer, x *search.ONNXExport, p qdq.Paths) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tweight\tinput\tTensorRT")
	for _, d := range x.Layers {
		wt, in := "float", "float"
		if d.Weight != nil {
			wt = fmt.Sprintf("%s/%d: %s", d.WeightQuantizer, d.WeightBits, storageShort(d.Weight))
		}
		if d.Input != nil {
			in = fmt.Sprintf("%d bits: %s", d.ActivationBits, storageShort(d.Input))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Node, wt, in, d.Precision)
	}
	tw.Flush()
	if x.SourceOpset != x.Opset {
		fmt.Fprintf(w, "opset raised from %d to %d\n", x.SourceOpset, x.Opset)
	}
	fmt.Fprintf(w, "wrote %s\n      %s\n      %s\n", p.Model, p.Encodings, p.TensorRT)
	if len(x.LayerPrecisions) > 0 {
		fmt.Fprintln(w, strings.Join(x.LayerPrecisions, " "))
	}
}

func storageShort(t *qdq.TensorDetails) string {
	switch {
	case t.Dtype == "int8":
		return "int8+DQ"
	case t.Dtype == "uint8" && t.Clip != nil:
		return "Clip+uint8 QDQ"
	case t.Dtype == "uint8":
		return "uint8 QDQ"
	}
	return "float32"
}
