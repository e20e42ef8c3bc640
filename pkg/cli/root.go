// Package cli holds sealgate's commands, one file each. Commands take an options struct with
// AddFlags and Validate, and return an exit code through Execute.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	ExitOK     = 0
	ExitDenied = 1 // `check` and `audit`: at least one object would be denied; `test`: an expectation failed
	ExitUsage  = 2 // bad flags, unreadable or invalid input, or a failure to run
)

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// usageError wraps a problem with flags or input (exit 2).
func usageError(err error) error { return &exitError{code: ExitUsage, err: err} }

// Execute runs the sealgate command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdio IO) int {
	root := &cobra.Command{
		Use:           "sealgate",
		Short:         "Kubernetes admission control for images, signatures, pod security and resources",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.AddCommand(newCheckCommand(stdio), newTestCommand(stdio), newAuditCommand(stdio), newServeCommand(stdio), newVAPCommand(stdio), newVersionCommand(stdio))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stdio.Err, "error:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors (unknown command, missing argument) are usage errors.
	fmt.Fprintln(stdio.Err, "error:", err)
	return ExitUsage
}
