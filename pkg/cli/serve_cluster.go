package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/auditor"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/server"
	"github.com/sealgate/sealgate/pkg/verify"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// clusterOptions are the flags of `sealgate serve` that apply when policies come from the cluster.
type clusterOptions struct {
	Kubeconfig    string
	Namespace     string
	CertMode      string
	CertSecret    string
	WebhookConfig string
	Service       string
	CertDNSNames  []string
	// LeaderElect elects one replica to write policy status; every replica still serves.
	LeaderElect      bool
	LeaderElectionID string
	// Audit runs the background audit (on the elected replica) and the what-if of policy changes.
	Audit          bool
	AuditReportAPI string
	// MatchConditions has the elected replica keep the workload webhook's matchConditions generated
	// from the policies in force (cluster.MatchConditionSync).
	MatchConditions bool
}

func (o *clusterOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "sealgate-system"), "namespace sealgate runs in (its certificate Secret lives here)")
	fs.StringVar(&o.CertMode, "cert-mode", "self", "serving certificates: self (sealgate creates, rotates and injects them) or external (cert-manager or a Secret mounted at --cert-dir)")
	fs.StringVar(&o.CertSecret, "cert-secret", "sealgate-webhook-cert", "Secret that holds the self-managed CA and serving certificate")
	fs.StringVar(&o.WebhookConfig, "webhook-config-name", "sealgate", "ValidatingWebhookConfiguration whose caBundle sealgate keeps current (self cert mode), whose workload webhook's selectors the audit follows, and whose failurePolicy the fail-open check reads")
	fs.StringVar(&o.Service, "service-name", "sealgate", "Service in front of sealgate; its DNS names go into the serving certificate")
	fs.StringArrayVar(&o.CertDNSNames, "cert-dns-name", nil, "extra DNS name for the serving certificate (repeatable), e.g. localhost")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "elect one replica (a Lease in --namespace) to write policy status; every replica serves either way")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "sealgate", "name of the Lease for --leader-elect")
	fs.BoolVar(&o.Audit, "audit", true, "audit the objects already in the cluster: the elected replica writes reports, status.audit and metrics; every replica warns at apply time what a policy change would find")
	fs.BoolVar(&o.MatchConditions, "match-conditions", true, "the elected replica writes, into the workload webhook of --webhook-config-name, matchConditions generated from the policies in force, so that the API server does not call sealgate for requests no policy could act on (needs update on that configuration); false removes those it wrote")
	fs.StringVar(&o.AuditReportAPI, "audit-report-api", audit.APIOpenReports, "API of the audit's reports: "+strings.Join(audit.ReportAPIs, " or "))
}

func (o *clusterOptions) Validate() error {
	var errs []error
	if o.CertMode != "self" && o.CertMode != "external" {
		errs = append(errs, fmt.Errorf("--cert-mode %q: want self or external", o.CertMode))
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	if o.LeaderElect && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("--leader-election-id must not be empty with --leader-elect"))
	}
	if !slices.Contains(audit.ReportAPIs, o.AuditReportAPI) {
		errs = append(errs, fmt.Errorf("--audit-report-api %q: want %s", o.AuditReportAPI, strings.Join(audit.ReportAPIs, " or ")))
	}
	return errors.Join(errs...)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (o *clusterOptions) restConfig() (*rest.Config, error) {
	if o.Kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	}
	return ctrl.GetConfig()
}

// dnsNames are the names the serving certificate covers: the Service's in-cluster names first.
func (o *clusterOptions) dnsNames() []string {
	base := o.Service + "." + o.Namespace + ".svc"
	return append([]string{base, base + ".cluster.local", o.Service + "." + o.Namespace, o.Service}, o.CertDNSNames...)
}

// runCluster serves with policies and namespaces from the cluster. A controller-runtime manager runs
// the informers and controllers; sealgate's own server (the same as in file mode) serves the webhooks,
// health and metrics, and the manager stops only once the server has drained.
func (o *serveOptions) runCluster(ctx context.Context, log logr.Logger, h *admission.Handler, so server.Options, store *cluster.Store) error {
	cfg, err := o.Cluster.restConfig()
	if err != nil {
		return usageError(fmt.Errorf("no cluster to talk to: %w", err))
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Logger: log,
		// Probes and metrics are served by sealgate's server, as in file mode.
		HealthProbeBindAddress:  "0",
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		GracefulShutdownTimeout: &o.ShutdownGrace,
		// No manager election: it would stop the process when the lease is lost. cluster.Elector
		// elects the one replica that writes policy status, and never stops a serving replica.
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	live, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	leader := cluster.AlwaysLeader()
	if o.Cluster.LeaderElect {
		el, err := cluster.NewElector(cfg, o.Cluster.Namespace, o.Cluster.LeaderElectionID, log.WithName("leader"))
		if err != nil {
			return err
		}
		if err := mgr.Add(el); err != nil {
			return err
		}
		leader = el
	}
	conditions := &cluster.MatchConditionSync{Client: live, Store: store, Leader: leader, WebhookConfig: o.Cluster.WebhookConfig,
		Kinds: h.CustomKinds, Enabled: o.Cluster.MatchConditions, Log: log.WithName("match-conditions")}
	if err := mgr.Add(conditions); err != nil {
		return err
	}
	if err := cluster.SetupPolicies(mgr, store, leader, conditions, log.WithName("policies")); err != nil {
		return err
	}
	failOpenRec, ok := h.Metrics.(metrics.FailOpenRecorder)
	if !ok {
		failOpenRec = metrics.Nop{}
	}
	if err := mgr.Add(&cluster.FailOpenGuard{Reader: mgr.GetAPIReader(), Store: store, WebhookConfig: o.Cluster.WebhookConfig,
		Rules: h.Engine.Rules, Metrics: failOpenRec, Log: log.WithName("fail-open")}); err != nil {
		return err
	}
	exceptions := cluster.NewExceptionStore()
	h.Engine.Exceptions, h.Engine.ExceptionNamespace = exceptions, o.Cluster.Namespace
	if err := cluster.SetupExceptions(mgr, exceptions, h.Engine.Rules, o.Cluster.Namespace, leader, log.WithName("exceptions")); err != nil {
		return err
	}
	if err := cluster.SetupFallback(mgr, h.Engine.Rules, exceptions, o.Cluster.Namespace, o.Cluster.WebhookConfig, leader, log.WithName("fallback")); err != nil {
		return err
	}
	// Register the namespace informer now, so the first admission does not wait for it to sync.
	nsInformer, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	h.Engine.Namespaces = &cluster.Namespaces{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}
	// Admissions leave to a policy's generated ValidatingAdmissionPolicy the rules it enforces
	// exactly (status.fallback); setupAudit gives the audit an engine that keeps every rule.
	h.Engine.SkipVAPRules = true
	if v, ok := h.Engine.Signatures.(*verify.Verifier); ok {
		// Live reads (get only, no cluster-wide watch of Secrets), made only when a verification
		// is not answered from the cache.
		v.SetSecretReader(clusterSecrets{r: mgr.GetAPIReader()})
	}
	certsReady := make(chan struct{})
	if o.Cluster.CertMode == "self" {
		err := cluster.SetupCerts(ctx, mgr, live, cluster.CertOptions{
			Secret:        types.NamespacedName{Namespace: o.Cluster.Namespace, Name: o.Cluster.CertSecret},
			CertDir:       o.CertDir,
			DNSNames:      o.Cluster.dnsNames(),
			WebhookConfig: o.Cluster.WebhookConfig,
			Ready:         certsReady,
		}, log.WithName("certs"))
		if err != nil {
			return err
		}
	} else {
		close(certsReady)
	}

	// The webhook server reads its certificate when it starts, so it starts once the certificate is
	// in place; until then readiness keeps the Service from sending it traffic.
	so.CertsReady = certsReady
	if o.MetricsSecure {
		filter, err := filters.WithAuthenticationAndAuthorization(cfg, mgr.GetHTTPClient())
		if err != nil {
			return fmt.Errorf("metrics authentication: %w", err)
		}
		metricsLog := log.WithName("metrics")
		so.MetricsFilter = func(h http.Handler) (http.Handler, error) { return filter(metricsLog, h) }
	}
	srv, err := server.New(so)
	if err != nil {
		return err
	}
	srv.Handle(webhookconfig.WorkloadPath, h)
	pv := &admission.PolicyValidator{Log: log.WithName("policy-webhook"), Server: so.Metrics,
		Rules: h.Engine.Rules, Policies: store, ExceptionNamespace: o.Cluster.Namespace}
	if o.Cluster.Audit {
		if pv.WhatIf, err = o.setupAudit(cfg, mgr, live, nsInformer, h, store, exceptions, leader, log); err != nil {
			return err
		}
	}
	srv.Handle(webhookconfig.PolicyPath, pv)
	srv.AddReadyCheck("certificates", server.CheckFunc(func() error {
		select {
		case <-certsReady:
			return nil
		default:
			return errors.New("serving certificate not in place yet")
		}
	}))
	srv.AddReadyCheck("policies", server.CheckFunc(func() error {
		if !store.Loaded() {
			return errors.New("policies not loaded yet")
		}
		return nil
	}))
	srv.AddReadyCheck("exceptions", server.CheckFunc(exceptions.Ready))
	log.Info("starting", "mode", "cluster", "namespace", o.Cluster.Namespace, "certMode", o.Cluster.CertMode,
		"dnsNames", strings.Join(o.Cluster.dnsNames(), ","))
	return runBoth(ctx, srv, mgr)
}

// setupAudit registers the audit informers and the scanner on mgr, and returns the what-if of the
// policy webhook. The informers run on every replica, and the webhook's readiness does not wait for
// them: until they sync, the what-if says it has no estimate.
func (o *serveOptions) setupAudit(cfg *rest.Config, mgr ctrl.Manager, live client.Client, namespaces auditor.EventSource,
	h *admission.Handler, store *cluster.Store, exceptions *cluster.ExceptionStore, leader cluster.Leadership, log logr.Logger) (func(context.Context, *policy.Policy) []string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	inf, err := auditor.NewInformers(cs)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(inf); err != nil {
		return nil, err
	}
	rec, ok := h.Metrics.(metrics.AuditRecorder)
	if !ok {
		rec = metrics.Nop{}
	}
	// The audit judges objects already in the cluster, which no VAP has seen: every rule counts.
	judge := *h.Engine
	judge.SkipVAPRules = false
	sc := &auditor.Scanner{Informers: inf, Engine: &judge, Store: store, Exceptions: exceptions, Leader: leader, Client: live,
		Cache: mgr.GetClient(), ReportAPI: o.Cluster.AuditReportAPI, WebhookConfig: o.Cluster.WebhookConfig,
		Namespace: o.Cluster.Namespace, Metrics: rec, Log: log.WithName("audit")}
	if err := sc.Register(namespaces); err != nil {
		return nil, err
	}
	if err := mgr.Add(sc); err != nil {
		return nil, err
	}
	wi := &auditor.WhatIf{Informers: inf, Engine: &judge, Client: live, WebhookConfig: o.Cluster.WebhookConfig,
		Namespace: o.Cluster.Namespace, Log: log.WithName("what-if")}
	return wi.Check, nil
}

// runBoth runs the server and the manager. The manager outlives ctx until the server has drained, so
// that admissions answered during the shutdown delay still see current policies and namespaces; if
// the manager fails, the server shuts down too.
func runBoth(ctx context.Context, srv *server.Server, mgr ctrl.Manager) error {
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMgr()
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	mgrDone, srvDone := make(chan error, 1), make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	go func() { srvDone <- srv.Run(srvCtx) }()
	select {
	case err := <-srvDone:
		stopMgr()
		return errors.Join(err, <-mgrDone)
	case err := <-mgrDone:
		if err == nil {
			err = errors.New("the manager stopped")
		}
		stopSrv()
		return errors.Join(fmt.Errorf("manager: %w", err), <-srvDone)
	}
}

// clusterSecrets implements verify.SecretReader with the API server.
type clusterSecrets struct{ r client.Reader }

func (c clusterSecrets) get(ctx context.Context, ns, name string, obj client.Object) error {
	err := c.r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return verify.ErrNotFound
	}
	return err
}

func (c clusterSecrets) Secret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := c.get(ctx, ns, name, &s); err != nil {
		return nil, err
	}
	return s.Data, nil
}

func (c clusterSecrets) ConfigMap(ctx context.Context, ns, name string) (map[string]string, error) {
	var cm corev1.ConfigMap
	if err := c.get(ctx, ns, name, &cm); err != nil {
		return nil, err
	}
	return cm.Data, nil
}

func (c clusterSecrets) ServiceAccountPullSecrets(ctx context.Context, ns, name string) ([]string, error) {
	var sa corev1.ServiceAccount
	if err := c.get(ctx, ns, name, &sa); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(sa.ImagePullSecrets))
	for _, s := range sa.ImagePullSecrets {
		out = append(out, s.Name)
	}
	return out, nil
}
