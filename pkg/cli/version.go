package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/sealgate/sealgate/pkg/cli.Version=v0.1.0".
var Version = "dev"

func newVersionCommand(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of sealgate",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			commit := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						commit = s.Value
					}
				}
			}
			fmt.Fprintf(stdio.Out, "sealgate %s (commit %s, %s)\n", Version, commit, runtime.Version())
			return nil
		},
	}
}
