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
	p.Violation("prod", "containers.privileged", "Enforce", "denied")
	p.Violation("prod", "containers.privileged", "Enforce", "denied")
	p.Violation("audit", "images.requireDigest", "Audit", "audited")
	p.Decision("denied", 30*time.Microsecond)
	p.Decision("allowed", 20*time.Microsecond)

	want := `
# HELP sealgate_violations_total Policy violations found, by policy, rule, mode and what they caused (denied, warned, audited).
# TYPE sealgate_violations_total counter
sealgate_violations_total{decision="audited",mode="Audit",policy="audit",rule="images.requireDigest"} 1
sealgate_violations_total{decision="denied",mode="Enforce",policy="prod",rule="containers.privileged"} 2
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
