package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// serveOptions are the flags of `sealgate serve`.
type serveOptions struct {
	Host            string
	Port            int
	CertDir         string
	PolicyFiles     []string
	HealthAddr      string
	MetricsAddr     string
	TLSMinVersion   string
	ShutdownDelay   time.Duration
	ShutdownGrace   time.Duration
	LogLevel        string
	Cluster         clusterOptions
	Verify          verify.Flags
	tlsMinVersionID uint16
}

func (o *serveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Host, "host", "", "address the webhook listens on (empty: all)")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of the webhook (/validate)")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt and tls.key; reloaded when they change")
	fs.StringArrayVar(&o.PolicyFiles, "policy-file", nil, "policy file or directory (repeatable); without it, policies come from ClusterAdmissionPolicy objects in the cluster")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0 disables)")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.3", "minimum TLS version: 1.2 or 1.3")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, keep serving this long so in-flight and late admissions finish")
	fs.DurationVar(&o.ShutdownGrace, "shutdown-grace", 30*time.Second, "after the shutdown delay, how long in-flight requests may take to finish")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, error")
	o.Cluster.AddFlags(fs)
	o.Verify.AddFlags(fs)
}

func (o *serveOptions) Validate() error {
	var errs []error
	if slices.Contains(o.PolicyFiles, "") {
		errs = append(errs, errors.New("--policy-file must not be empty"))
	}
	if len(o.PolicyFiles) == 0 {
		errs = append(errs, o.Cluster.Validate())
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: want 1-65535", o.Port))
	}
	switch o.TLSMinVersion {
	case "1.2":
		o.tlsMinVersionID = tls.VersionTLS12
	case "1.3":
		o.tlsMinVersionID = tls.VersionTLS13
	default:
		errs = append(errs, fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", o.TLSMinVersion))
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if o.ShutdownDelay < 0 {
		errs = append(errs, errors.New("--shutdown-delay must not be negative"))
	}
	errs = append(errs, o.Verify.Validate())
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info or error", s)
}

func newServeCommand(stdio IO) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --policy-file POLICIES",
		Short: "Serve the validating admission webhook over HTTPS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			return o.run(cmd.Context(), stdio)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (o *serveOptions) run(ctx context.Context, stdio IO) error {
	level, _ := parseLevel(o.LogLevel)
	log := logr.FromSlogHandler(slog.NewJSONHandler(stdio.Err, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log)

	var (
		source admission.PolicySource
		store  *cluster.Store
	)
	if len(o.PolicyFiles) > 0 {
		policies, err := policy.LoadPaths(o.PolicyFiles, stdio.In)
		if err != nil {
			return usageError(err)
		}
		source = admission.StaticPolicies(policies)
		log.Info("policies loaded from files", "count", len(policies))
	} else {
		store = cluster.NewStore()
		source = store
	}
	reg := &collectorScope{Registerer: ctrlmetrics.Registry}
	defer reg.unregisterAll()
	rec, err := metrics.NewPrometheus(reg)
	if err != nil {
		return err
	}
	vo, err := o.Verify.Options(rec)
	if err != nil {
		return usageError(err)
	}
	vo.Log = log.WithName("signatures")
	h := &admission.Handler{
		// The verifier serves both file and cluster modes; runCluster keeps h.Engine as it is.
		Engine:   &engine.Engine{Rules: rules.Default(), Signatures: verify.New(vo)},
		Policies: source,
		Metrics:  rec,
		Log:      log.WithName("admission"),
	}
	if err := h.Defaults(); err != nil {
		return err
	}
	srv := webhook.NewServer(webhook.Options{
		Host: o.Host, Port: o.Port, CertDir: o.CertDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = o.tlsMinVersionID
			// HTTP/2 stays off: its rapid-reset and stream floods are not worth the API server's
			// connection reuse for a webhook.
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	srv.Register(webhookconfig.WorkloadPath, h)

	// serveCtx outlives ctx by the shutdown delay, so that admissions routed here while endpoints
	// update still get an answer.
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		if o.ShutdownDelay > 0 {
			log.Info("shutting down after delay", "delay", o.ShutdownDelay.String())
			time.Sleep(o.ShutdownDelay)
		}
		cancel()
	}()

	if store != nil {
		return o.runCluster(serveCtx, log, h, srv, store)
	}
	ready := srv.StartedChecker()
	g, gctx := errgroup.WithContext(serveCtx)
	g.Go(func() error { return srv.Start(gctx) })
	g.Go(func() error {
		mux := http.NewServeMux()
		mux.Handle("/healthz", http.StripPrefix("/healthz", &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}))
		mux.Handle("/readyz", http.StripPrefix("/readyz", &healthz.Handler{Checks: map[string]healthz.Checker{"webhook": ready}}))
		return serveHTTP(gctx, o.HealthAddr, mux)
	})
	if o.MetricsAddr != "0" && o.MetricsAddr != "" {
		g.Go(func() error {
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
			return serveHTTP(gctx, o.MetricsAddr, mux)
		})
	}
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// collectorScope registers collectors on a registry (controller-runtime's global one, which also
// holds its webhook metrics) and unregisters them when serve returns, so that serve can run again in
// the same process, as the tests run it, without a duplicate registration error.
type collectorScope struct {
	prometheus.Registerer
	registered []prometheus.Collector
}

func (s *collectorScope) Register(c prometheus.Collector) error {
	if err := s.Registerer.Register(c); err != nil {
		return err
	}
	s.registered = append(s.registered, c)
	return nil
}

func (s *collectorScope) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

func (s *collectorScope) unregisterAll() {
	for _, c := range s.registered {
		s.Registerer.Unregister(c)
	}
}

// serveHTTP serves plain HTTP until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
	}()
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
