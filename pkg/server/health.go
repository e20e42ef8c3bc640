package server

import (
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// Check is one readiness condition.
type Check interface {
	// Ready returns nil when the condition holds, or why it does not.
	Ready() error
}

// CheckFunc is a Check from a function.
type CheckFunc func() error

// Ready implements Check.
func (f CheckFunc) Ready() error { return f() }

type namedCheck struct {
	name  string
	check Check
}

// AddReadyCheck adds a condition to /readyz. The server's own are "webhook" (the listener accepts
// connections) and "shutdown" (fails once shutdown began); cluster mode adds its own. Call it before
// Run.
func (s *Server) AddReadyCheck(name string, c Check) {
	s.checks = append(s.checks, namedCheck{name, c})
}

// healthHandler serves /healthz (the process runs) and /readyz (every check passes), with
// controller-runtime's handler, whose output and ?verbose the probes and docs already know.
func (s *Server) healthHandler() http.Handler {
	ready := map[string]healthz.Checker{}
	for _, c := range s.checks {
		ready[c.name] = func(*http.Request) error { return c.check.Ready() }
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", http.StripPrefix("/healthz", &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}))
	mux.Handle("/healthz/", http.StripPrefix("/healthz", &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}))
	mux.Handle("/readyz", http.StripPrefix("/readyz", &healthz.Handler{Checks: ready}))
	mux.Handle("/readyz/", http.StripPrefix("/readyz", &healthz.Handler{Checks: ready}))
	return mux
}
