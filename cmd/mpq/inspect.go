package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mpq/internal/engine"
	"mpq/internal/graph"
	"mpq/internal/onnxio"
)

type layerJSON struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Weight string `json:"weight"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
	// MACs counts all multiply-accumulates per sample; StateMACs those
	// of a recurrent layer against its hidden state (included in MACs),
	// which stays in floating point.
	MACs      int64          `json:"macs"`
	StateMACs int64          `json:"state_macs,omitempty"`
	Input     string         `json:"input"`
	Recurrent *recurrentJSON `json:"recurrent,omitempty"`
}

// recurrentJSON names the file's W and R whose rows [W | R] make a
// recurrent layer's weight.
type recurrentJSON struct {
	W string `json:"w"`
	R string `json:"r"`
}

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL.onnx",
		Short: "List a model's quantizable layers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := onnxio.LoadModel(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeInventoryJSON(cmd.OutOrStdout(), m)
			}
			return writeInventory(cmd.OutOrStdout(), m)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func inventory(m *engine.Model) []layerJSON {
	out := make([]layerJSON, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = layerJSON{Name: l.Name, Op: l.Op, Weight: l.Weight, Shape: l.Shape, Params: l.Params, MACs: l.MACs + l.StateMACs, Input: l.Input}
		if r := l.Recurrent; r != nil {
			out[i].StateMACs = l.StateMACs
			out[i].Recurrent = &recurrentJSON{W: r.W, R: r.R}
		}
	}
	return out
}

func writeInventoryJSON(w io.Writer, m *engine.Model) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"layers": inventory(m), "float_weights": floatWeights(m)})
}

func writeInventory(w io.Writer, m *engine.Model) error {
	fmt.Fprintf(w, "input %s %s, %d classes, %d quantizable layers\n", m.Input, graph.ShapeString(m.InputShape), m.Classes, len(m.Layers))
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\top\tweight\tshape\tparams\tMACs\tinput\t")
	var params, macs int64
	for _, l := range m.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", l.Name, l.Op, l.Weight, graph.ShapeString(l.Shape), l.Params, l.MACs+l.StateMACs, l.Input)
		params += int64(l.Params)
		macs += l.MACs + l.StateMACs
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t\t\n", params, macs)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range m.FloatWeights() {
		fmt.Fprintf(w, "note: node %q (%s) multiplies by the constant %q %s (%d values), which is not a quantizable layer's weight: it stays in floating point and the sizes above do not count it\n",
			f.Node, f.Op, f.Name, graph.ShapeString(f.Shape), f.Params)
	}
	return nil
}

type floatWeightJSON struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
}

func floatWeights(m *engine.Model) []floatWeightJSON {
	out := []floatWeightJSON{}
	for _, f := range m.FloatWeights() {
		out = append(out, floatWeightJSON{Node: f.Node, Op: f.Op, Name: f.Name, Shape: f.Shape, Params: f.Params})
	}
	return out
}
