package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
	"github.com/sealgate/sealgate/pkg/workload"
)

// checkOptions are the flags of `sealgate check`.
type checkOptions struct {
	Policies          []string
	Exceptions        []string
	Files             []string
	Output            string
	DefaultNamespace  string
	SealgateNamespace string
	SkipSignatures    bool
	SkipImageConfig   bool
	Verify            verify.Flags
	// IncludeExcluded, Operation and Old: check_verdict.go.
	IncludeExcluded bool
	Operation       string
	Old             string
}

func (o *checkOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Policies, "policy", nil, "policy file or directory (repeatable); PolicyExceptions in them are read too")
	fs.StringArrayVar(&o.Exceptions, "exceptions", nil, "PolicyException file or directory (repeatable; - reads stdin)")
	fs.StringVar(&o.SealgateNamespace, "sealgate-namespace", "sealgate-system", "namespace sealgate runs in: policies accept exceptions from it unless spec.exceptions says otherwise, and an exception that names no namespace is in it")
	fs.StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or directory to check, or - for stdin (repeatable)")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fs.StringVarP(&o.DefaultNamespace, "namespace", "n", "default", "namespace of objects that name none (as kubectl apply -n would)")
	fs.BoolVar(&o.SkipSignatures, "skip-signatures", false, "do not verify image signatures (offline linting); the output says they were skipped")
	fs.BoolVar(&o.SkipImageConfig, "skip-image-config", false, "do not read image configs from registries (offline linting); the output says they were skipped")
	fs.BoolVar(&o.IncludeExcluded, "include-excluded", false, "evaluate objects in the namespaces the webhook excludes (kube-system and --sealgate-namespace) instead of reporting them as excluded")
	fs.StringVar(&o.Operation, "operation", opCreate, "admission operation to evaluate: CREATE, or UPDATE of the objects in --old")
	fs.StringVar(&o.Old, "old", "", "with --operation UPDATE: file or directory of the objects as they are now, matched to -f by kind, namespace and name")
	o.Verify.AddFlags(fs)
}

func (o *checkOptions) Validate() error {
	var errs []error
	if len(o.Policies) == 0 || slices.Contains(o.Policies, "") {
		errs = append(errs, errors.New("--policy is required and must not be empty"))
	}
	if len(o.Files) == 0 || slices.Contains(o.Files, "") {
		errs = append(errs, errors.New("-f is required (a file, a directory, or - for stdin)"))
	}
	if slices.Contains(o.Exceptions, "") {
		errs = append(errs, errors.New("--exceptions must not be empty"))
	}
	if stdin := countStdin(o.Policies) + countStdin(o.Files) + countStdin(o.Exceptions); stdin > 1 {
		errs = append(errs, errors.New("only one of --policy -, --exceptions - and -f - can read standard input"))
	}
	if o.SealgateNamespace == "" {
		errs = append(errs, errors.New("--sealgate-namespace must not be empty"))
	}
	if o.Output != "text" && o.Output != "json" {
		errs = append(errs, fmt.Errorf("-o %q: want text or json", o.Output))
	}
	if o.DefaultNamespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	errs = append(errs, o.validateVerdict()...)
	errs = append(errs, o.Verify.Validate())
	return errors.Join(errs...)
}

func newCheckCommand(stdio IO) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check --policy POLICY -f MANIFESTS",
		Short: "Check manifests against policies offline, with the verdict the cluster would give",
		Long: `check evaluates Kubernetes manifests against sealgate policies with the same engine as the
webhook. Exit status: 0 when every object is admitted, 1 when any is denied, 2 on a usage or input error.
Warn and Audit violations are shown but do not change the exit status.`,
		Example: `  sealgate check --policy examples/policies -f examples/workloads
  helm template ./chart | sealgate check --policy policies/ -f - -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			rep, err := o.run(cmd.Context(), stdio)
			if err != nil {
				return usageError(err)
			}
			if err := rep.write(stdio.Out, o.Output); err != nil {
				return usageError(err)
			}
			if !rep.allowed() {
				return &exitError{code: ExitDenied}
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (o *checkOptions) run(ctx context.Context, stdio IO) (*report, error) {
	policies, exceptions, err := loadPoliciesAndExceptions(o.Policies, o.Exceptions, stdio.In, o.SealgateNamespace)
	if err != nil {
		return nil, err
	}
	docs, warns, err := manifest.ReadPaths(o.Files, stdio.In)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		fmt.Fprintf(stdio.Err, "warning: %s\n", w)
	}
	ns, err := namespacesFrom(docs)
	if err != nil {
		return nil, err
	}
	eng := &engine.Engine{Rules: rules.Default(), Namespaces: ns, SkipSignatures: o.SkipSignatures, SkipImageConfig: o.SkipImageConfig,
		Exceptions: engine.NewStaticExceptions(exceptions), ExceptionNamespace: o.SealgateNamespace}
	if !o.SkipSignatures || !o.SkipImageConfig {
		vo, err := o.Verify.Options(nil)
		if err != nil {
			return nil, err
		}
		v := verify.New(vo)
		if !o.SkipSignatures {
			eng.Signatures = v
		}
		if !o.SkipImageConfig {
			eng.ImageConfigs = v
		}
	}
	old, err := o.oldObjects()
	if err != nil {
		return nil, err
	}
	rep := &report{SignaturesSkipped: o.SkipSignatures, ImageConfigSkipped: o.SkipImageConfig, Results: []result{}, Exceptions: len(exceptions)}
	for i := range docs {
		d := &docs[i]
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("%s: apiVersion %q: %w", d.Where(), d.APIVersion, err)
		}
		w, err := workload.Decode(gv.WithKind(d.Kind), d.JSON)
		if errors.Is(err, workload.ErrNotWorkload) {
			rep.Skipped++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Where(), err)
		}
		namespace := w.Object.Namespace
		if namespace == "" {
			namespace = o.DefaultNamespace
		}
		if o.excluded(namespace) {
			rep.exclude(d, w, namespace)
			continue
		}
		op, unchanged := o.asAdmitted(w, old)
		if unchanged {
			rep.add(d, w, namespace, &engine.Result{}).note(op, unchangedNote)
			continue
		}
		res := eng.Evaluate(ctx, policies, w, namespace)
		rep.add(d, w, namespace, res).note(op, "")
	}
	return rep, nil
}

// staticNamespaces answers namespace labels from Namespace objects found in the input; other
// namespaces have only the label the API server sets on every namespace.
type staticNamespaces map[string]map[string]string

func (s staticNamespaces) Labels(_ context.Context, name string) (map[string]string, error) {
	if l, ok := s[name]; ok {
		return l, nil
	}
	return map[string]string{"kubernetes.io/metadata.name": name}, nil
}

func namespacesFrom(docs []manifest.Document) (staticNamespaces, error) {
	out := staticNamespaces{}
	for i := range docs {
		d := &docs[i]
		if d.APIVersion != "v1" || d.Kind != "Namespace" {
			continue
		}
		var ns struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(d.JSON, &ns); err != nil {
			return nil, fmt.Errorf("%s: Namespace: %w", d.Where(), err)
		}
		if strings.TrimSpace(ns.Metadata.Name) == "" {
			return nil, fmt.Errorf("%s: Namespace has no metadata.name", d.Where())
		}
		l := map[string]string{}
		for k, v := range ns.Metadata.Labels {
			l[k] = v
		}
		// The API server always sets this label to the name, overriding what the manifest says.
		l["kubernetes.io/metadata.name"] = ns.Metadata.Name
		out[ns.Metadata.Name] = l
	}
	return out, nil
}
