// Command mpq searches per-layer weight and activation bitwidths for a
// PyTorch-exported ONNX model. Run "mpq help" for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mpq:", err)
		os.Exit(1)
	}
}
