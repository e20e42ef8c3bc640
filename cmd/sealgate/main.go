// Command sealgate is a Kubernetes validating admission webhook and the offline checker that gives
// the same verdict in CI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sealgate/sealgate/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
