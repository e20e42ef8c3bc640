package server

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Server serves sealgate's webhooks over HTTPS, and /healthz, /readyz and /metrics beside them.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	register func(path string, h http.Handler)
	limits   *limiter
	checks   []namedCheck

	draining atomic.Bool // the context ended: readiness fails, every response closes its connection
	serving  atomic.Bool // the webhook listener is accepting connections

	mu      sync.Mutex
	stopped bool         // Run is shutting down: a late webhook listener must not start
	webhook *http.Server // nil until the certificate is in place
}

// New checks the options and returns a server with no webhook registered yet.
func New(o Options) (*Server, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// controller-runtime's webhook server is used only for its Register: it wraps each handler in
	// the request metrics dashboards already read (controller_runtime_webhook_requests_total,
	// _latency_seconds, _requests_in_flight), which it exports only that way. It never starts.
	instrumented := webhook.NewServer(webhook.Options{WebhookMux: mux})
	s := &Server{opts: o, mux: mux, register: instrumented.Register,
		limits: newLimiter(o.MaxInFlight, o.MaxLargeInFlight, o.Metrics)}
	s.AddReadyCheck("webhook", CheckFunc(func() error {
		if !s.serving.Load() {
			return errors.New("the webhook server is not accepting connections yet")
		}
		return nil
	}))
	s.AddReadyCheck("shutdown", CheckFunc(func() error {
		if s.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}))
	return s, nil
}

// Handle serves h at path on the webhook port, behind the in-flight limits and a panic recovery.
func (s *Server) Handle(path string, h http.Handler) {
	s.register(path, s.limits.wrap(recoverPanics(h, s.opts.Log, s.opts.Metrics)))
}

// Run serves until ctx ends, then shuts down: readiness fails and every response closes its
// connection at once; the server keeps serving for the shutdown delay, then drains within the grace.
// It returns an error if a listener fails, or if requests were still running when the grace ran out.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 4)
	var side []*http.Server
	if enabled(s.opts.HealthAddr) {
		srv, err := s.startPlain(s.opts.HealthAddr, s.healthHandler(), errc)
		if err != nil {
			return fmt.Errorf("health probes: %w", err)
		}
		side = append(side, srv)
	}
	if enabled(s.opts.MetricsAddr) {
		srv, err := s.startMetrics(errc)
		if err != nil {
			closeAll(side)
			return fmt.Errorf("metrics: %w", err)
		}
		side = append(side, srv)
	}
	if enabled(s.opts.ProfilingAddr) {
		ln, err := net.Listen("tcp", s.opts.ProfilingAddr)
		if err != nil {
			closeAll(side)
			return fmt.Errorf("profiling: %w", err)
		}
		srv := s.httpServer(profilingHandler())
		srv.WriteTimeout = 0 // a CPU profile or trace answers only after the seconds it was asked for
		go serveOn(srv, ln, errc)
		side = append(side, srv)
	}
	// The certificate watcher outlives ctx, so that a rotation during the drain is still picked up.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go s.startWebhook(ctx, watchCtx, errc)

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-errc:
	}
	s.draining.Store(true)
	s.opts.Log.Info("shutting down: readiness fails and connections close after their next response",
		"delay", s.opts.ShutdownDelay.String(), "grace", s.opts.ShutdownGrace.String())
	if failed == nil && s.opts.ShutdownDelay > 0 {
		t := time.NewTimer(s.opts.ShutdownDelay)
		select {
		case <-t.C:
		case failed = <-errc:
			t.Stop()
		}
	}
	s.mu.Lock()
	s.stopped = true
	wh := s.webhook
	s.mu.Unlock()
	var drainErr error
	if wh != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
		err := wh.Shutdown(sctx)
		cancel()
		if err != nil {
			_ = wh.Close()
			drainErr = fmt.Errorf("admissions still running after the shutdown grace (%s) were cut: %w", s.opts.ShutdownGrace, err)
		}
	}
	closeAll(side)
	s.opts.Log.Info("stopped")
	return errors.Join(failed, drainErr)
}

// startWebhook starts the webhook listener once the certificate is in place.
func (s *Server) startWebhook(ctx, watchCtx context.Context, errc chan<- error) {
	if s.opts.CertsReady != nil {
		select {
		case <-s.opts.CertsReady:
		case <-ctx.Done():
			return
		}
	}
	cw, err := certwatcher.New(filepath.Join(s.opts.CertDir, "tls.crt"), filepath.Join(s.opts.CertDir, "tls.key"))
	if err != nil {
		errc <- fmt.Errorf("loading the serving certificate: %w", err)
		return
	}
	go func() {
		if err := cw.Start(watchCtx); err != nil {
			s.opts.Log.Error(err, "certificate watcher stopped")
		}
	}()
	cfg, err := s.webhookTLS(cw.GetCertificate)
	if err != nil {
		errc <- err
		return
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		errc <- fmt.Errorf("webhook: %w", err)
		return
	}
	srv := s.httpServer(s.closeWhenDraining(s.mux))
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = ln.Close()
		return
	}
	s.webhook = srv
	s.mu.Unlock()
	s.serving.Store(true)
	s.opts.Log.Info("serving webhooks", "address", ln.Addr().String())
	if err := srv.Serve(tlsListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errc <- fmt.Errorf("webhook: %w", err)
	}
}

// httpServer is an http.Server with the limits, HTTP/1.1 only, logging through the JSON logger.
func (s *Server) httpServer(h http.Handler) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Server{
		Handler:           h,
		ReadTimeout:       s.opts.ReadTimeout,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		// HTTP/2 stays off: its rapid-reset and stream floods are not worth the API server's
		// connection reuse for a webhook.
		Protocols: protocols,
		ErrorLog:  errorLog(s.opts.Log),
	}
}

// startPlain serves h over plain HTTP at addr; the listener is bound before it returns.
func (s *Server) startPlain(addr string, h http.Handler, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := s.httpServer(h)
	go serveOn(srv, ln, errc)
	return srv, nil
}

func serveOn(srv *http.Server, ln net.Listener, errc chan<- error) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errc <- err
	}
}

// closeAll stops the health and metrics servers once the webhook has drained: probes keep answering
// (not ready) until then.
func closeAll(servers []*http.Server) {
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
	}
}

// closeWhenDraining adds Connection: close to every response once shutdown began, so that each
// keep-alive connection is closed by the server right after its next answer and the client opens
// its next one to another replica. Idle connections are not closed abruptly at that moment: a
// client may be writing a request on one.
func (s *Server) closeWhenDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// errorLog sends net/http's own messages ("http: TLS handshake error from ...") through the JSON
// logger, so that every line on standard error is JSON. They describe clients, hence Warn.
func errorLog(log logr.Logger) *stdlog.Logger {
	return slog.NewLogLogger(logr.ToSlogHandler(log), slog.LevelWarn)
}
