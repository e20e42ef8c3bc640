package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
)

// auditOptions are the flags of `sealgate audit`.
type auditOptions struct {
	Kubeconfig        string
	Context           string
	Namespace         string
	AllNamespaces     bool
	Policies          []string
	Exceptions        []string
	AsEnforce         bool
	Output            string
	ReportAPI         string
	SkipSignatures    bool
	SkipImageConfig   bool
	PageSize          int64
	WebhookConfig     string
	SealgateNamespace string
	Verify            verify.Flags
}

func (o *auditOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context to use")
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "audit this namespace only (default: every namespace)")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "audit every namespace (the default when -n is not given)")
	fs.StringArrayVar(&o.Policies, "policy", nil, "policy file or directory to audit with instead of the cluster's policies (repeatable; - reads stdin): what a policy would find before it is installed; PolicyExceptions in them are read too")
	fs.StringArrayVar(&o.Exceptions, "exceptions", nil, "PolicyException file or directory (repeatable; - reads stdin), applied with the cluster's exceptions; one of the same namespace and name replaces the cluster's")
	fs.BoolVar(&o.AsEnforce, "as-enforce", false, "evaluate Warn and Audit policies as if they were Enforce: what switching them would deny")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text, json or report (the report objects as YAML)")
	fs.StringVar(&o.ReportAPI, "report-api", audit.APIOpenReports, "API of the report objects of -o report: "+audit.APIOpenReports+" or "+audit.APIPolicyWG)
	fs.BoolVar(&o.SkipSignatures, "skip-signatures", false, "do not verify image signatures; the output says they were skipped")
	fs.BoolVar(&o.SkipImageConfig, "skip-image-config", false, "do not read image configs from registries; the output says they were skipped")
	fs.Int64Var(&o.PageSize, "page-size", 500, "objects per list request; memory stays bounded by a page")
	fs.StringVar(&o.WebhookConfig, "webhook-config-name", "sealgate", "ValidatingWebhookConfiguration whose selectors say which namespaces and objects the webhook sees")
	fs.StringVar(&o.SealgateNamespace, "sealgate-namespace", "sealgate-system", "namespace sealgate runs in: excluded with kube-system when the webhook configuration is not installed; policies accept exceptions from it unless spec.exceptions says otherwise")
	o.Verify.AddFlags(fs)
}

func (o *auditOptions) Validate() error {
	var errs []error
	if o.Namespace != "" && o.AllNamespaces {
		errs = append(errs, errors.New("-n and --all-namespaces cannot be used together"))
	}
	if slices.Contains(o.Policies, "") || slices.Contains(o.Exceptions, "") {
		errs = append(errs, errors.New("--policy and --exceptions must not be empty"))
	}
	if countStdin(o.Policies)+countStdin(o.Exceptions) > 1 {
		errs = append(errs, errors.New("only one of --policy - and --exceptions - can read standard input"))
	}
	if !slices.Contains([]string{"text", "json", "report"}, o.Output) {
		errs = append(errs, fmt.Errorf("-o %q: want text, json or report", o.Output))
	}
	if !slices.Contains(audit.ReportAPIs, o.ReportAPI) {
		errs = append(errs, fmt.Errorf("--report-api %q: want %s or %s", o.ReportAPI, audit.APIOpenReports, audit.APIPolicyWG))
	}
	if o.PageSize < 1 {
		errs = append(errs, fmt.Errorf("--page-size %d: want at least 1", o.PageSize))
	}
	if o.WebhookConfig == "" || o.SealgateNamespace == "" {
		errs = append(errs, errors.New("--webhook-config-name and --sealgate-namespace must not be empty"))
	}
	errs = append(errs, o.Verify.Validate())
	return errors.Join(errs...)
}

func newAuditCommand(stdio IO) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit what is running in a cluster with the verdict admission would give it",
		Long: `audit lists every pod-bearing object in a cluster, page by page, and evaluates it with the same
engine, namespace selectors and exclusions as the webhook. A pod that a controller owns is reported
once, through the controller at the top of its owner chain, with the number of its pods.

Policies come from the cluster (those in force), or from --policy files: what a policy would find
before it is installed. --as-enforce evaluates Warn and Audit policies as if they were Enforce.

Exit status: 0 when nothing running would be denied, 1 when something would, 2 on a usage error or a
failure to read the cluster.`,
		Example: `  sealgate audit
  sealgate audit --policy restricted.yaml --as-enforce -n prod
  sealgate audit -o report | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			out, err := o.run(cmd.Context(), stdio)
			if err != nil {
				return usageError(err)
			}
			if err := out.write(stdio.Out, o.Output, o.ReportAPI); err != nil {
				return usageError(err)
			}
			if !out.allowed() {
				return &exitError{code: ExitDenied}
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// restConfig loads the connection the way kubectl does.
func (o *auditOptions) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "sealgate-audit"
	// Lists are paged and few; client-go's default of 5 per second would only slow a large cluster.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

func (o *auditOptions) run(ctx context.Context, stdio IO) (*auditOutput, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to talk to: %w", err)
	}
	counter := &requestCounter{}
	cfg.Wrap(counter.wrap)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	out := &auditOutput{SignaturesSkipped: o.SkipSignatures, ImageConfigSkipped: o.SkipImageConfig, AsEnforce: o.AsEnforce, started: time.Now()}

	policies, inline, err := o.policies(ctx, cs, stdio.In, out)
	if err != nil {
		return nil, err
	}
	exceptions, err := o.exceptions(ctx, cs, stdio, inline, out)
	if err != nil {
		return nil, err
	}
	if o.AsEnforce {
		policies = audit.AsEnforce(policies)
	}
	out.policies = policies
	l := &lister{cs: cs, namespace: o.Namespace, pageSize: o.PageSize, progress: newProgress(stdio.Err)}
	namespaces, err := l.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	scope, err := o.scope(ctx, cs, stdio)
	if err != nil {
		return nil, err
	}
	out.Scope = scope.Source
	eng := &engine.Engine{Rules: rules.Default(), Namespaces: namespaces, SkipSignatures: o.SkipSignatures, SkipImageConfig: o.SkipImageConfig,
		Exceptions: engine.NewStaticExceptions(exceptions), ExceptionNamespace: o.SealgateNamespace}
	sigs := !o.SkipSignatures && needsSignatures(policies)
	configs := !o.SkipImageConfig && slices.ContainsFunc(policies, rules.NeedsImageConfigs)
	if sigs || configs {
		vo, err := o.Verify.Options(nil)
		if err != nil {
			return nil, err
		}
		// The Secrets and ConfigMaps signature rules name, and the workloads' pull secrets, read
		// live as the webhook reads them.
		reader, err := client.New(cfg, client.Options{})
		if err != nil {
			return nil, err
		}
		v := verify.New(vo)
		v.SetSecretReader(clusterSecrets{r: reader})
		if sigs {
			eng.Signatures = v
		}
		if configs {
			eng.ImageConfigs = v
		}
	}
	a := &audit.Auditor{Engine: eng, Policies: policies, Scope: scope}
	res := audit.NewResult()
	if err := l.each(ctx, func(obj *audit.Object) { a.Add(ctx, res, obj) }); err != nil {
		return nil, err
	}
	out.result = res
	out.Results, out.Summary = res.Finish()
	out.Listed = l.listed
	out.APIRequests = counter.n.Load()
	return out, nil
}

// policies are those in force in the cluster, decided as every replica decides them, or those of
// --policy, with the PolicyExceptions those files hold.
func (o *auditOptions) policies(ctx context.Context, cs kubernetes.Interface, stdin io.Reader, out *auditOutput) ([]*policy.Policy, []*policy.Exception, error) {
	if len(o.Policies) > 0 {
		ps, xs, err := loadPoliciesAndExceptions(o.Policies, nil, stdin, o.SealgateNamespace)
		if err != nil {
			return nil, nil, err
		}
		out.PolicySource = "files"
		return ps, xs, nil
	}
	ps, err := clusterPolicies(ctx, cs)
	if err != nil {
		return nil, nil, err
	}
	out.PolicySource = "cluster"
	return ps, nil, nil
}

// exceptions are the PolicyExceptions in force in the cluster, decided as every replica decides
// them, with those of the files (inline, from --policy, and --exceptions) replacing any of the same
// namespace and name. A cluster without the PolicyException API, or that does not let the audit
// list exceptions, is audited with the files' exceptions only, and the audit says so: without
// exceptions it can only find more, never less.
func (o *auditOptions) exceptions(ctx context.Context, cs kubernetes.Interface, stdio IO, inline []*policy.Exception, out *auditOutput) ([]*policy.Exception, error) {
	files, err := loadExceptions(o.Exceptions, stdio.In, o.SealgateNamespace)
	if err != nil {
		return nil, err
	}
	files, err = mergeExceptions(inline, files, false)
	if err != nil {
		return nil, err
	}
	fromCluster, err := clusterExceptions(ctx, cs)
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		fmt.Fprintf(stdio.Err, "note: cannot list PolicyExceptions (%s); auditing without the cluster's exceptions\n", reason(err))
		out.ExceptionSource = "files"
	case err != nil:
		return nil, err
	default:
		out.ExceptionSource = "cluster"
		if len(files) > 0 {
			out.ExceptionSource = "cluster and files"
		}
	}
	xs, err := mergeExceptions(fromCluster, files, true)
	if err != nil {
		return nil, err
	}
	out.Exceptions = len(xs)
	return xs, nil
}

// scope reads the workload webhook's selectors from its configuration; when it is not installed,
// the audit assumes sealgate's default one and says so.
func (o *auditOptions) scope(ctx context.Context, cs kubernetes.Interface, stdio IO) (audit.Scope, error) {
	vwc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, o.WebhookConfig, getOptions)
	if err == nil {
		return audit.ScopeFromWebhook(vwc)
	}
	if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return audit.Scope{}, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", o.WebhookConfig, err)
	}
	fmt.Fprintf(stdio.Err, "note: cannot read ValidatingWebhookConfiguration %s (%v); assuming the default scope "+
		"(kube-system and %s excluded)\n", o.WebhookConfig, reason(err), o.SealgateNamespace)
	return audit.DefaultScope(o.SealgateNamespace)
}

func reason(err error) string {
	if apierrors.IsNotFound(err) {
		return "not found"
	}
	return "forbidden"
}

func needsSignatures(policies []*policy.Policy) bool {
	for _, p := range policies {
		if len(p.Signatures) > 0 {
			return true
		}
	}
	return false
}
