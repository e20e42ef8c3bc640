package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
)

// checkOptions are the flags of `sealgate check`.
type checkOptions struct {
	Policies          []string
	Exceptions        []string
	Files             []string
	DefaultNamespace  string
	SealgateNamespace string
	SkipSignatures    bool
	SkipImageConfig   bool
	Verify            verify.Flags
	CustomKinds       customKindFlags
	Input             inputOptions
	Verdict           verdictOptions
	checkOutputOptions

	// namespaceLabels adds namespaces, with their labels, to those the input defines: `sealgate test`
	// sets them from a suite.
	namespaceLabels map[string]map[string]string
}

func (o *checkOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Policies, "policy", nil, "policy file or directory (repeatable); PolicyExceptions in them are read too")
	fs.StringArrayVar(&o.Exceptions, "exceptions", nil, "PolicyException file or directory (repeatable; - reads stdin)")
	fs.StringVar(&o.SealgateNamespace, "sealgate-namespace", "sealgate-system", "namespace sealgate runs in: policies accept exceptions from it unless spec.exceptions says otherwise, and an exception that names no namespace is in it")
	fs.StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file, directory or glob to check, or - for stdin (repeatable; arguments after the flags are more files)")
	o.checkOutputOptions.AddFlags(fs)
	fs.StringVarP(&o.DefaultNamespace, "namespace", "n", "default", "namespace of objects that name none (as kubectl apply -n would)")
	fs.BoolVar(&o.SkipSignatures, "skip-signatures", false, "do not verify image signatures (offline linting); the output says they were skipped")
	fs.BoolVar(&o.SkipImageConfig, "skip-image-config", false, "do not read image configs from registries (offline linting); the output says they were skipped")
	o.Verify.AddFlags(fs)
	o.CustomKinds.AddFlags(fs)
	o.Input.AddFlags(fs)
	o.Verdict.AddFlags(fs)
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
	errs = append(errs, o.checkOutputOptions.Validate())
	if o.DefaultNamespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	errs = append(errs, o.Verify.Validate(), o.CustomKinds.Validate(), o.Input.Validate(), o.Verdict.Validate())
	return errors.Join(errs...)
}

func newCheckCommand(stdio IO) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check --policy POLICY -f MANIFESTS [MANIFESTS...]",
		Short: "Check manifests against policies offline, with the verdict the cluster would give",
		Long: `check evaluates Kubernetes manifests against sealgate policies with the same engine as the
webhook. Exit status: 0 when every object is admitted, 1 when any is denied (or, with --fail-on warn or
audit, has a violation of that mode), 2 on a usage or input error. Output formats: text (a summary, then
the findings), json, yaml, sarif, junit, github (workflow commands), report (OpenReports), table.`,
		Example: `  sealgate check --policy examples/policies -f examples/workloads
  helm template ./chart | sealgate check --policy policies/ -f - -o json`,
		// Arguments are more manifests, so that `-f a.yaml b.yaml` works after the shell expands a glob.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = append(o.Files, args...)
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			rep, read, err := o.run(cmd.Context(), stdio)
			var listed *exitError
			if errors.As(err, &listed) {
				return err
			}
			if err != nil {
				return usageError(err)
			}
			if err := rep.write(stdio.Out, &o.checkOutputOptions); err != nil {
				return usageError(err)
			}
			if err := o.inputVerdict(rep, read); err != nil {
				return err
			}
			if rep.fails(o.FailOn) {
				return &exitError{code: ExitDenied}
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// run evaluates the manifests and returns the report and how many objects were read.
func (o *checkOptions) run(ctx context.Context, stdio IO) (*report, int, error) {
	policies, exceptions, err := loadPoliciesAndExceptions(o.Policies, o.Exceptions, stdio.In, o.SealgateNamespace)
	if err != nil {
		return nil, 0, err
	}
	in := o.readInput(stdio.In, stdio.Err)
	if len(in.readErrs) > 0 && !o.Input.ContinueOnError {
		return nil, 0, listErrors(stdio.Err, in.readErrs)
	}
	ns, err := namespacesFrom(in.docs)
	if err != nil {
		return nil, 0, err
	}
	for name, labels := range o.namespaceLabels {
		ns[name] = labels
	}
	eng := &engine.Engine{Rules: rules.Default(), Namespaces: ns, SkipSignatures: o.SkipSignatures, SkipImageConfig: o.SkipImageConfig,
		Exceptions: engine.NewStaticExceptions(exceptions), ExceptionNamespace: o.SealgateNamespace}
	if !o.SkipSignatures || !o.SkipImageConfig {
		vo, err := o.Verify.Options(nil)
		if err != nil {
			return nil, 0, err
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
		return nil, 0, err
	}
	rep := &report{SignaturesSkipped: o.SkipSignatures, ImageConfigSkipped: o.SkipImageConfig, Results: []result{}, Exceptions: len(exceptions)}
	in.fill(rep)
	for _, obj := range in.objects {
		d, w := obj.doc, obj.w
		namespace := w.Object.Namespace
		if namespace == "" {
			namespace = o.DefaultNamespace
		}
		if o.excluded(namespace) {
			rep.exclude(d, w, namespace)
			continue
		}
		op, unchanged := o.asAdmitted(w, old)
		res := &engine.Result{} // the webhook admits an unchanged UPDATE unevaluated
		if !unchanged {
			res = eng.Evaluate(ctx, policies, w, namespace)
		}
		rep.add(d, w, namespace, res)
		rep.note(obj.note)
		rep.operation(op, unchanged)
	}
	return rep, in.read, nil
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
