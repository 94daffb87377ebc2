package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mpq",
		Short: "Automated mixed-precision quantization search for PyTorch-exported ONNX models",
		Long: `mpq decides how many bits each layer's weights and input activations get,
so that a model is as small and cheap as possible for the accuracy it keeps.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newInspectCmd(),
		newEvalCmd(),
		newSearchCmd(),
		newSensitivityCmd(),
		newStudiesCmd(),
		newExportCmd(),
		newReportCmd(),
		newExportONNXCmd(),
	)
	return root
}
