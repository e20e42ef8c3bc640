package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/server"
	"github.com/sealgate/sealgate/pkg/verify"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// serveOptions are the flags of `sealgate serve`.
type serveOptions struct {
	Host              string
	Port              int
	CertDir           string
	PolicyFiles       []string
	HealthAddr        string
	MetricsAddr       string
	MetricsSecure     bool
	ProfilingAddr     string
	TLSMinVersion     string
	ClientCAFile      string
	ShutdownDelay     time.Duration
	ShutdownGrace     time.Duration
	MaxInFlight       int
	MaxLargeInFlight  int
	ReadTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	LogLevel          string
	Cluster           clusterOptions
	Verify            verify.Flags
	tlsMinVersionID   uint16
}

func (o *serveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Host, "host", "", "address the webhook listens on (empty: all)")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of the webhook (/validate)")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt and tls.key; reloaded when they change")
	fs.StringArrayVar(&o.PolicyFiles, "policy-file", nil, "policy file or directory (repeatable), PolicyExceptions included; without it, policies and exceptions come from the cluster")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (0 disables)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", "127.0.0.1:8080", "address of /metrics (0 disables); loopback by default, see --metrics-secure")
	fs.StringVar(&o.ProfilingAddr, "profiling-bind-address", "0", "address of net/http/pprof's /debug/pprof/ (0 disables); loopback only (reach it with kubectl port-forward)")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve /metrics over HTTPS, to clients the API server authenticates and allows get on /metrics (cluster mode only)")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.3", "minimum TLS version: 1.2 or 1.3 (1.2 offers only ECDHE suites with AES-GCM or ChaCha20-Poly1305)")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM CA bundle; when set, clients must present a certificate it signed (the API server's, per its AdmissionConfiguration)")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, keep serving this long with readiness failing and keep-alive off, so clients move to other replicas")
	fs.DurationVar(&o.ShutdownGrace, "shutdown-grace", 30*time.Second, "after the shutdown delay, how long in-flight requests may take to finish")
	fs.IntVar(&o.MaxInFlight, "max-requests-in-flight", server.DefaultMaxInFlight, "admission requests read or evaluated at once; past it, HTTP 429 at once")
	fs.IntVar(&o.MaxLargeInFlight, "max-large-requests-in-flight", server.DefaultMaxLargeInFlight, fmt.Sprintf("of those, requests with a body over %d bytes (or of unknown length); past it, HTTP 429 at once", server.LargeBodyBytes))
	fs.DurationVar(&o.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "deadline for reading one request, headers and body")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "deadline for reading one request's headers")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "how long a keep-alive connection may stay idle (keep it above the API server's 90s)")
	fs.IntVar(&o.MaxHeaderBytes, "max-header-bytes", server.DefaultMaxHeaderBytes, "largest request headers accepted")
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
	} else if o.MetricsSecure {
		errs = append(errs, errors.New("--metrics-secure needs cluster mode (it asks the API server who may scrape); with --policy-file, keep --metrics-bind-address on loopback"))
	}
	if err := loopbackOnly(o.ProfilingAddr); err != nil {
		errs = append(errs, fmt.Errorf("--profiling-bind-address: %w", err))
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
	if o.ClientCAFile != "" {
		if _, err := server.LoadClientCAs(o.ClientCAFile); err != nil {
			errs = append(errs, fmt.Errorf("--client-ca-file: %w", err))
		}
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if o.ShutdownDelay < 0 {
		errs = append(errs, errors.New("--shutdown-delay must not be negative"))
	}
	if o.ShutdownGrace <= 0 {
		errs = append(errs, errors.New("--shutdown-grace must be positive"))
	}
	if o.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("--max-requests-in-flight %d: want at least 1", o.MaxInFlight))
	}
	if o.MaxLargeInFlight < 1 || o.MaxLargeInFlight > o.MaxInFlight {
		errs = append(errs, fmt.Errorf("--max-large-requests-in-flight %d: want 1 to --max-requests-in-flight (%d)", o.MaxLargeInFlight, o.MaxInFlight))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--read-timeout", o.ReadTimeout}, {"--read-header-timeout", o.ReadHeaderTimeout}, {"--idle-timeout", o.IdleTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.name))
		}
	}
	if o.ReadHeaderTimeout > o.ReadTimeout {
		errs = append(errs, fmt.Errorf("--read-header-timeout %s: want at most --read-timeout (%s)", o.ReadHeaderTimeout, o.ReadTimeout))
	}
	if o.MaxHeaderBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("--max-header-bytes %d: want at least 4096", o.MaxHeaderBytes))
	}
	errs = append(errs, o.Verify.Validate())
	return errors.Join(errs...)
}

// serverOptions are the options of the HTTPS server, the same in file and cluster mode.
func (o *serveOptions) serverOptions(log logr.Logger, rec metrics.ServerRecorder) server.Options {
	return server.Options{
		Addr:              net.JoinHostPort(o.Host, strconv.Itoa(o.Port)),
		CertDir:           o.CertDir,
		TLSMinVersion:     o.tlsMinVersionID,
		ClientCAFile:      o.ClientCAFile,
		MaxInFlight:       o.MaxInFlight,
		MaxLargeInFlight:  o.MaxLargeInFlight,
		ReadTimeout:       o.ReadTimeout,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ShutdownDelay:     o.ShutdownDelay,
		ShutdownGrace:     o.ShutdownGrace,
		HealthAddr:        o.HealthAddr,
		MetricsAddr:       o.MetricsAddr,
		ProfilingAddr:     o.ProfilingAddr,
		Gatherer:          ctrlmetrics.Registry,
		Log:               log.WithName("server"),
		Metrics:           rec,
	}
}

// loopbackOnly accepts "0" (off) or host:port whose host is a loopback address or localhost.
func loopbackOnly(addr string) error {
	if addr == "0" || addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: want a loopback host (127.0.0.1, ::1 or localhost), or 0 to disable", addr)
	}
	return nil
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
	// One JSON handler for every line: sealgate's, controller-runtime's, client-go's (klog), the
	// standard library's log package, and net/http's error log (set by the server).
	logHandler := slog.NewJSONHandler(stdio.Err, &slog.HandlerOptions{Level: level})
	log := logr.FromSlogHandler(logHandler)
	ctrl.SetLogger(log)
	klog.SetLogger(log)
	slog.SetDefault(slog.New(logHandler))
	if set, limit := server.SetMemoryLimit(); set > 0 {
		log.Info("Go memory limit set from the container's", "goMemLimitBytes", set, "cgroupLimitBytes", limit)
	}

	var (
		source     admission.PolicySource
		exceptions engine.ExceptionSource
		store      *cluster.Store
	)
	if len(o.PolicyFiles) > 0 {
		// PolicyExceptions in the policy files apply as in the cluster; one that names no namespace
		// is in sealgate's own (--namespace).
		policies, xs, err := loadPoliciesAndExceptions(o.PolicyFiles, nil, stdio.In, o.Cluster.Namespace)
		if err != nil {
			return usageError(err)
		}
		source, exceptions = admission.StaticPolicies(policies), engine.NewStaticExceptions(xs)
		log.Info("policies loaded from files", "count", len(policies), "exceptions", len(xs))
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
	v := verify.New(vo)
	h := &admission.Handler{
		// The verifier serves both file and cluster modes; runCluster keeps h.Engine as it is. It
		// also reads image configs, with the same client, credentials, cache and limits.
		Engine: &engine.Engine{Rules: rules.Default(), Signatures: v, ImageConfigs: v,
			Exceptions: exceptions, ExceptionNamespace: o.Cluster.Namespace},
		Policies: source,
		Metrics:  rec,
		Log:      log.WithName("admission"),
	}
	if err := h.Defaults(); err != nil {
		return err
	}
	so := o.serverOptions(log, rec)
	if store != nil {
		return o.runCluster(ctx, log, h, so, store)
	}
	srv, err := server.New(so)
	if err != nil {
		return err
	}
	srv.Handle(webhookconfig.WorkloadPath, h)
	log.Info("starting", "mode", "file")
	return srv.Run(ctx)
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
