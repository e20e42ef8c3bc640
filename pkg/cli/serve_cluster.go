package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/cluster"
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
}

func (o *clusterOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "sealgate-system"), "namespace sealgate runs in (its certificate Secret lives here)")
	fs.StringVar(&o.CertMode, "cert-mode", "self", "serving certificates: self (sealgate creates, rotates and injects them) or external (cert-manager or a Secret mounted at --cert-dir)")
	fs.StringVar(&o.CertSecret, "cert-secret", "sealgate-webhook-cert", "Secret that holds the self-managed CA and serving certificate")
	fs.StringVar(&o.WebhookConfig, "webhook-config-name", "sealgate", "ValidatingWebhookConfiguration whose caBundle sealgate keeps current (self cert mode)")
	fs.StringVar(&o.Service, "service-name", "sealgate", "Service in front of sealgate; its DNS names go into the serving certificate")
	fs.StringArrayVar(&o.CertDNSNames, "cert-dns-name", nil, "extra DNS name for the serving certificate (repeatable), e.g. localhost")
}

func (o *clusterOptions) Validate() error {
	var errs []error
	if o.CertMode != "self" && o.CertMode != "external" {
		errs = append(errs, fmt.Errorf("--cert-mode %q: want self or external", o.CertMode))
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
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

// runCluster serves with policies and namespaces from the cluster, under a controller-runtime manager.
func (o *serveOptions) runCluster(ctx context.Context, log logr.Logger, h *admission.Handler, srv webhook.Server, store *cluster.Store) error {
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
	metricsAddr := o.MetricsAddr
	if metricsAddr == "" {
		metricsAddr = "0"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log,
		HealthProbeBindAddress:  o.HealthAddr,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		GracefulShutdownTimeout: &o.ShutdownGrace,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	live, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	rec := &cluster.PolicyReconciler{Client: mgr.GetClient(), Store: store, Log: log.WithName("policies"), WriteStatus: true}
	if err := rec.SetupWithManager(mgr); err != nil {
		return err
	}
	// Register the namespace informer now, so the first admission does not wait for it to sync.
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	h.Engine.Namespaces = &cluster.Namespaces{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}
	if v, ok := h.Engine.Signatures.(*verify.Verifier); ok {
		// Live reads (get only, no cluster-wide watch of Secrets), made only when a verification
		// is not answered from the cache.
		v.SetSecretReader(clusterSecrets{r: mgr.GetAPIReader()})
	}
	srv.Register(webhookconfig.PolicyPath, &admission.PolicyValidator{Log: log.WithName("policy-webhook")})

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
	if err := mgr.Add(&afterReady{ready: certsReady, start: srv.Start}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	webhookStarted := srv.StartedChecker()
	ready := func(req *http.Request) error {
		select {
		case <-certsReady:
		default:
			return errors.New("serving certificate not in place yet")
		}
		if !store.Loaded() {
			return errors.New("policies not loaded yet")
		}
		return webhookStarted(req)
	}
	if err := mgr.AddReadyzCheck("webhook", ready); err != nil {
		return err
	}
	log.Info("starting", "mode", "cluster", "namespace", o.Cluster.Namespace, "certMode", o.Cluster.CertMode,
		"dnsNames", strings.Join(o.Cluster.dnsNames(), ","))
	return mgr.Start(ctx)
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

// afterReady starts a runnable once a channel closes. Every replica runs it (no leader election).
type afterReady struct {
	ready <-chan struct{}
	start func(context.Context) error
}

func (a *afterReady) Start(ctx context.Context) error {
	select {
	case <-a.ready:
		return a.start(ctx)
	case <-ctx.Done():
		return nil
	}
}

func (a *afterReady) NeedLeaderElection() bool { return false }
