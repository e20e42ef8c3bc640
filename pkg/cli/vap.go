package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// vapOptions are the flags of `sealgate vap`.
type vapOptions struct {
	Policies          []string
	Namespace         string
	ExcludeNamespaces []string
}

func (o *vapOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Policies, "policy", nil, "policy file or directory to compile (repeatable; - reads stdin)")
	fs.StringVar(&o.Namespace, "namespace", "sealgate-system", "namespace sealgate is installed in: the bindings leave it out, with kube-system, as the webhook does")
	fs.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "more namespaces the webhook is not sent (the chart's webhook.excludeNamespaces; repeatable): the bindings leave them out too")
}

func (o *vapOptions) Validate() error {
	if len(o.Policies) == 0 {
		return errors.New("--policy is required: name the policy files to compile")
	}
	return nil
}

func newVAPCommand(stdio IO) *cobra.Command {
	o := &vapOptions{}
	cmd := &cobra.Command{
		Use:   "vap --policy FILE...",
		Short: "Print the ValidatingAdmissionPolicy and binding each policy compiles to, for GitOps",
		Long: "vap compiles each policy's rules that need no network and no state to a ValidatingAdmissionPolicy\n" +
			"and its binding, which the API server enforces even while the webhook is down, and prints them as\n" +
			"YAML. A comment before each policy lists its rules: exact, conservative (denies more than the\n" +
			"webhook) or not compiled, with the reason.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			ps, err := policy.LoadPaths(o.Policies, stdio.In)
			if err != nil {
				return usageError(err)
			}
			scope, err := o.webhookScope()
			if err != nil {
				return usageError(err)
			}
			if err := writeVAPs(stdio.Out, ps, scope); err != nil {
				return usageError(err)
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// webhookScope is the selectors of the workload webhook sealgate installs with these flags, which
// every binding requires too: a VAP never judges what the webhook is never sent.
func (o *vapOptions) webhookScope() (vap.Options, error) {
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: o.Namespace, URL: "https://sealgate.invalid",
		ExcludeNamespaces: o.ExcludeNamespaces})
	if err != nil {
		return vap.Options{}, fmt.Errorf("--namespace, --exclude-namespace: %w", err)
	}
	ns, obj, _ := webhookconfig.WorkloadSelectors(vwc)
	return vap.Options{WebhookNamespaceSelector: ns, WebhookObjectSelector: obj}, nil
}

// writeVAPs prints each policy's compiled objects as YAML documents, preceded by comments that
// list its rules' states.
func writeVAPs(w io.Writer, ps []*policy.Policy, scope vap.Options) error {
	for i, p := range ps {
		res, err := vap.CompileWithOptions(rules.Default(), p, scope)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		fmt.Fprintf(w, "# sealgate policy %s\n", p.Name)
		for _, st := range res.Rules {
			line := fmt.Sprintf("#   %s: %s", st.Rule, st.State)
			if st.Reason != "" {
				line += " (" + st.Reason + ")"
			}
			fmt.Fprintln(w, line)
		}
		if res.Policy == nil {
			fmt.Fprintln(w, "# no rule compiles: no objects")
			continue
		}
		for j, obj := range []runtime.Object{res.Policy, res.Binding} {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return fmt.Errorf("policy %q: %w", p.Name, err)
			}
			// The API server fills status; an empty one in a GitOps repository is noise.
			delete(m, "status")
			b, err := yaml.Marshal(m)
			if err != nil {
				return fmt.Errorf("policy %q: %w", p.Name, err)
			}
			if j > 0 {
				fmt.Fprintln(w, "---")
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}
