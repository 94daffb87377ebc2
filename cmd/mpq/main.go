// Command mpq searches per-layer weight and activation bitwidths for a
// PyTorch-exported ONNX model. Run "mpq help" for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mpq:", err)
		os.Exit(1)
	}
}
