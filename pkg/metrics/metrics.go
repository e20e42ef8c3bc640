// Package metrics records what sealgate decides, behind a small interface so that the engine and the
// webhook never import Prometheus. Labels are bounded: policy and rule names come from the policy set,
// never from a pod, namespace or image.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Recorder receives one call per admission decision and one per violation.
type Recorder interface {
	// Violation counts one violation; action is what it caused: "denied", "warned" or "audited".
	Violation(policy, rule, mode, action string)
	// Decision counts an admission outcome ("allowed", "denied", "skipped", "error") and how long the
	// evaluation took.
	Decision(decision string, elapsed time.Duration)
}

// Nop records nothing.
type Nop struct{}

// Violation implements Recorder.
func (Nop) Violation(string, string, string, string) {}

// Decision implements Recorder.
func (Nop) Decision(string, time.Duration) {}

// Prometheus is the Recorder that backs /metrics.
type Prometheus struct {
	violations *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// NewPrometheus creates the collectors and registers them with reg.
func NewPrometheus(reg prometheus.Registerer) (*Prometheus, error) {
	p := &Prometheus{
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_violations_total",
			Help: "Policy violations found, by policy, rule, mode and what they caused (denied, warned, audited).",
		}, []string{"policy", "rule", "mode", "decision"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_admission_decisions_total",
			Help: "Admission decisions: allowed, denied, skipped (not evaluated) or error.",
		}, []string{"decision"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealgate_evaluation_duration_seconds",
			Help:    "Time to decode and evaluate one admission request, by decision.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 1, 2.5, 5, 10},
		}, []string{"decision"}),
	}
	for _, c := range []prometheus.Collector{p.violations, p.decisions, p.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Violation implements Recorder.
func (p *Prometheus) Violation(policy, rule, mode, action string) {
	p.violations.WithLabelValues(policy, rule, mode, action).Inc()
}

// Decision implements Recorder.
func (p *Prometheus) Decision(decision string, elapsed time.Duration) {
	p.decisions.WithLabelValues(decision).Inc()
	p.latency.WithLabelValues(decision).Observe(elapsed.Seconds())
}
