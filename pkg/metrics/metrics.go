// Package metrics records what sealgate decides, behind a small interface so that the engine and the
// webhook never import Prometheus. Labels are bounded: policy and rule names come from the policy set,
// never from a pod, namespace or image.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Recorder receives one call per admission decision and one per violation listed (or per policy
// and rule for those counted but not listed).
type Recorder interface {
	// Violation counts n violations of one policy and rule; action is what they caused: "denied",
	// "warned", "audited", or "excepted" when a PolicyException waived them (whatever the mode). n is
	// more than 1 for violations a result counts but does not list.
	Violation(policy, rule, mode, action string, n int)
	// Decision counts an admission outcome ("allowed", "denied", "skipped", "error") and how long the
	// evaluation took.
	Decision(decision string, elapsed time.Duration)
}

// SignatureRecorder receives the signature verifier's events. It is separate from Recorder so that
// recorders written before signature verification keep compiling; Nop and Prometheus implement both.
type SignatureRecorder interface {
	// SignatureVerification counts one verification that was not answered from the cache, by result:
	// "verified", "unsigned", "untrusted", "threshold", "unsupported" or "error".
	SignatureVerification(result string, elapsed time.Duration)
	// SignatureCache counts one lookup of the verification cache.
	SignatureCache(hit bool)
	// RegistryRequest observes one HTTP round trip to a registry; outcome is the status class ("2xx",
	// "3xx", "4xx", "5xx") or "error" when no response came.
	RegistryRequest(outcome string, elapsed time.Duration)
}

// ServerRecorder receives the HTTP server's events: requests turned away before they were evaluated,
// and panics recovered while serving one. It is separate from Recorder for the same reason as
// SignatureRecorder; Nop and Prometheus implement it.
type ServerRecorder interface {
	// Rejected counts one request answered without an evaluation, by reason: "in_flight" or
	// "large_in_flight" (no slot free, HTTP 429), "body_too_large" or "body_read" (the body was over
	// the size limit, or could not be read before the read deadline).
	Rejected(reason string)
	// Panic counts one panic recovered while serving a request.
	Panic()
}

// AuditRecorder receives the background audit's events. It is separate from Recorder for the same
// reason as SignatureRecorder; Nop and Prometheus implement it.
type AuditRecorder interface {
	// AuditViolations replaces every count of violating objects by policy and rule with counts; nil
	// clears them (a replica that stops leading no longer knows them).
	AuditViolations(counts []AuditCount)
	// AuditReportWrite counts one write made to the API server (create, update or delete), by kind:
	// "report", "clusterreport" or "status".
	AuditReportWrite(kind string)
	// AuditScan counts one scan, by kind: "full" or "incremental" (one namespace).
	AuditScan(kind string)
}

// FailOpenRecorder receives the fail-open guard's state. It is separate from Recorder for the same
// reason as SignatureRecorder; Nop and Prometheus implement it.
type FailOpenRecorder interface {
	// FailOpenUnprotected sets how many rules of Enforce policies nothing enforces while sealgate is
	// down: the workload webhook fails open (failurePolicy Ignore) and no generated
	// ValidatingAdmissionPolicy enforces them exactly.
	FailOpenUnprotected(n int)
}

// AuditCount is how many top-level objects violate one rule of one policy.
type AuditCount struct {
	Policy, Rule string
	Objects      int
}

// Nop records nothing.
type Nop struct{}

// FailOpenUnprotected implements FailOpenRecorder.
func (Nop) FailOpenUnprotected(int) {}

// AuditViolations implements AuditRecorder.
func (Nop) AuditViolations([]AuditCount) {}

// AuditReportWrite implements AuditRecorder.
func (Nop) AuditReportWrite(string) {}

// AuditScan implements AuditRecorder.
func (Nop) AuditScan(string) {}

// SignatureVerification implements SignatureRecorder.
func (Nop) SignatureVerification(string, time.Duration) {}

// SignatureCache implements SignatureRecorder.
func (Nop) SignatureCache(bool) {}

// RegistryRequest implements SignatureRecorder.
func (Nop) RegistryRequest(string, time.Duration) {}

// Rejected implements ServerRecorder.
func (Nop) Rejected(string) {}

// Panic implements ServerRecorder.
func (Nop) Panic() {}

// Violation implements Recorder.
func (Nop) Violation(string, string, string, string, int) {}

// Decision implements Recorder.
func (Nop) Decision(string, time.Duration) {}

// Prometheus is the Recorder that backs /metrics.
type Prometheus struct {
	violations *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	latency    *prometheus.HistogramVec

	verifications *prometheus.HistogramVec
	cacheLookups  *prometheus.CounterVec
	registry      *prometheus.HistogramVec

	rejected *prometheus.CounterVec
	panics   prometheus.Counter

	auditViolations *prometheus.GaugeVec
	auditWrites     *prometheus.CounterVec
	auditScans      *prometheus.CounterVec

	failOpen prometheus.Gauge
}

// NewPrometheus creates the collectors and registers them with reg.
func NewPrometheus(reg prometheus.Registerer) (*Prometheus, error) {
	p := &Prometheus{
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_violations_total",
			Help: "Policy violations found, by policy, rule, mode and what they caused (denied, warned, audited, or excepted: waived by a PolicyException).",
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
		verifications: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealgate_signature_verifications_seconds",
			Help:    "Image signature verifications not answered from the cache, by result (verified, unsigned, untrusted, threshold, unsupported, error).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8},
		}, []string{"result"}),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_signature_cache_lookups_total",
			Help: "Lookups of the signature verification cache, by result (hit, miss).",
		}, []string{"result"}),
		registry: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealgate_registry_request_duration_seconds",
			Help:    "HTTP round trips to image registries for signature verification, by outcome (2xx, 3xx, 4xx, 5xx, error).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3},
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_admission_rejected_total",
			Help: "Requests answered without an evaluation, by reason (in_flight, large_in_flight: HTTP 429; body_too_large, body_read: HTTP 400).",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_admission_panics_total",
			Help: "Panics recovered while serving a request; each request got an HTTP 500.",
		}),
		auditViolations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sealgate_audit_violations",
			Help: "Objects already in the cluster (top owners) that violate a policy rule, at the background audit's last scan; exported by the replica that audits.",
		}, []string{"policy", "rule"}),
		auditWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_audit_report_writes_total",
			Help: "Writes the background audit made, by kind (report, clusterreport, status); an unchanged report is not written.",
		}, []string{"kind"}),
		auditScans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_audit_scans_total",
			Help: "Background audit scans, by kind (full: every namespace; incremental: one namespace).",
		}, []string{"kind"}),
		failOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealgate_fail_open_unprotected_rules",
			Help: "Rules of Enforce policies that nothing enforces while sealgate is down: the workload webhook has failurePolicy Ignore and no ValidatingAdmissionPolicy fallback, Synced with the generation in force, enforces them exactly. 0 with failurePolicy Fail.",
		}),
	}
	for _, c := range []prometheus.Collector{p.violations, p.decisions, p.latency, p.verifications, p.cacheLookups, p.registry, p.rejected, p.panics,
		p.auditViolations, p.auditWrites, p.auditScans, p.failOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Violation implements Recorder.
func (p *Prometheus) Violation(policy, rule, mode, action string, n int) {
	p.violations.WithLabelValues(policy, rule, mode, action).Add(float64(n))
}

// Decision implements Recorder.
func (p *Prometheus) Decision(decision string, elapsed time.Duration) {
	p.decisions.WithLabelValues(decision).Inc()
	p.latency.WithLabelValues(decision).Observe(elapsed.Seconds())
}

// SignatureVerification implements SignatureRecorder.
func (p *Prometheus) SignatureVerification(result string, elapsed time.Duration) {
	p.verifications.WithLabelValues(result).Observe(elapsed.Seconds())
}

// SignatureCache implements SignatureRecorder.
func (p *Prometheus) SignatureCache(hit bool) {
	r := "miss"
	if hit {
		r = "hit"
	}
	p.cacheLookups.WithLabelValues(r).Inc()
}

// RegistryRequest implements SignatureRecorder.
func (p *Prometheus) RegistryRequest(outcome string, elapsed time.Duration) {
	p.registry.WithLabelValues(outcome).Observe(elapsed.Seconds())
}

// Rejected implements ServerRecorder.
func (p *Prometheus) Rejected(reason string) { p.rejected.WithLabelValues(reason).Inc() }

// Panic implements ServerRecorder.
func (p *Prometheus) Panic() { p.panics.Inc() }

// AuditViolations implements AuditRecorder.
func (p *Prometheus) AuditViolations(counts []AuditCount) {
	p.auditViolations.Reset()
	for _, c := range counts {
		p.auditViolations.WithLabelValues(c.Policy, c.Rule).Set(float64(c.Objects))
	}
}

// AuditReportWrite implements AuditRecorder.
func (p *Prometheus) AuditReportWrite(kind string) { p.auditWrites.WithLabelValues(kind).Inc() }

// AuditScan implements AuditRecorder.
func (p *Prometheus) AuditScan(kind string) { p.auditScans.WithLabelValues(kind).Inc() }

// FailOpenUnprotected implements FailOpenRecorder.
func (p *Prometheus) FailOpenUnprotected(n int) { p.failOpen.Set(float64(n)) }
