package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPrometheusRecorder(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p, err := NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	p.Violation("prod", "containers.privileged", "Enforce", "denied", 1)
	p.Violation("prod", "containers.privileged", "Enforce", "denied", 1)
	p.Violation("audit", "images.requireDigest", "Audit", "audited", 1)
	p.Violation("prod", "containers.privileged", "Enforce", "excepted", 3)
	p.Decision("denied", 30*time.Microsecond)
	p.Decision("allowed", 20*time.Microsecond)

	want := `
# HELP sealgate_violations_total Policy violations found, by policy, rule, mode and what they caused (denied, warned, audited, or excepted: waived by a PolicyException).
# TYPE sealgate_violations_total counter
sealgate_violations_total{decision="audited",mode="Audit",policy="audit",rule="images.requireDigest"} 1
sealgate_violations_total{decision="denied",mode="Enforce",policy="prod",rule="containers.privileged"} 2
sealgate_violations_total{decision="excepted",mode="Enforce",policy="prod",rule="containers.privileged"} 3
# HELP sealgate_admission_decisions_total Admission decisions: allowed, denied, skipped (not evaluated) or error.
# TYPE sealgate_admission_decisions_total counter
sealgate_admission_decisions_total{decision="allowed"} 1
sealgate_admission_decisions_total{decision="denied"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sealgate_violations_total", "sealgate_admission_decisions_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(p.latency); n != 2 {
		t.Fatalf("latency series = %d, want 2", n)
	}
	if _, err := NewPrometheus(reg); err == nil {
		t.Fatal("registering twice must fail")
	}
}

func TestPrometheusServerRecorder(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p, err := NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	var rec ServerRecorder = p
	rec.Rejected("in_flight")
	rec.Rejected("in_flight")
	rec.Rejected("large_in_flight")
	rec.Panic()

	want := `
# HELP sealgate_admission_rejected_total Requests answered without an evaluation, by reason (in_flight, large_in_flight: HTTP 429; body_too_large, body_read: HTTP 400).
# TYPE sealgate_admission_rejected_total counter
sealgate_admission_rejected_total{reason="in_flight"} 2
sealgate_admission_rejected_total{reason="large_in_flight"} 1
# HELP sealgate_admission_panics_total Panics recovered while serving a request; each request got an HTTP 500.
# TYPE sealgate_admission_panics_total counter
sealgate_admission_panics_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sealgate_admission_rejected_total", "sealgate_admission_panics_total"); err != nil {
		t.Fatal(err)
	}
	var _ ServerRecorder = Nop{}
}
