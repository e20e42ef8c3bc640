package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/sealgate/sealgate/pkg/workload"
)

// customKindFlags is --kind-pod-spec: custom kinds that carry a pod spec, beside the built-in table
// (workload.BuiltinCustomKinds).
type customKindFlags struct {
	raw   []string
	kinds workload.CustomKinds
}

func (f *customKindFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.raw, "kind-pod-spec", nil, "a custom kind that carries a pod spec, as GROUP/VERSION/KIND=PATH (repeatable): "+
		"PATH is the field path of its pod spec (spec.template.spec) or pod template (spec.template); "+
		"Argo Rollouts, Knative, KEDA ScaledJob, OpenKruise and the Prometheus Operator's kinds are built in")
}

// Validate parses the flag values, so that every bad one is reported before any file is read.
func (f *customKindFlags) Validate() error {
	var errs []error
	extra := make([]workload.CustomKind, 0, len(f.raw))
	for _, s := range f.raw {
		k, err := workload.ParseCustomKind(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--kind-pod-spec %w", err))
			continue
		}
		extra = append(extra, k)
	}
	f.kinds = workload.NewCustomKinds(extra...)
	return errors.Join(errs...)
}
