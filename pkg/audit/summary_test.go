package audit_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
)

// clusterObjects spans three namespaces:
//
//	prod:    pods p1, p2 (privileged), p3 (privileged, :latest); Deployment web (:latest) with 2 pods
//	dev:     pods d-priv (privileged), d-evil (evil registry), d-host (evil registry, host network)
//	staging: pod s-ok, clean
func clusterObjects(t testing.TB) []*audit.Object {
	host := spec(evilImage, false)
	host.HostNetwork = true
	return objects(t,
		typedDeployment("prod", "web", spec(latestImage, false)),
		typedReplicaSet("prod", "web-abc", spec(latestImage, false), controller("apps/v1", "Deployment", "web")),
		typedPod("prod", "p1", spec(goodImage, true)),
		typedPod("prod", "p2", spec(goodImage, true)),
		typedPod("prod", "p3", spec(latestImage, true)),
		typedPod("prod", "web-abc-1", spec(latestImage, false), controller("apps/v1", "ReplicaSet", "web-abc")),
		typedPod("prod", "web-abc-2", spec(latestImage, false), controller("apps/v1", "ReplicaSet", "web-abc")),
		typedPod("dev", "d-priv", spec(goodImage, true)),
		typedPod("dev", "d-evil", spec(evilImage, false)),
		typedPod("dev", "d-host", host),
		typedPod("staging", "s-ok", spec(goodImage, false)),
	)
}

func TestSummary(t *testing.T) {
	_, _, got := run(t, newAuditor(threePolicies(t)), clusterObjects(t))
	ns := func(pairs ...any) []audit.NamespaceCount {
		out := []audit.NamespaceCount{}
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, audit.NamespaceCount{Namespace: pairs[i].(string), Objects: pairs[i+1].(int)})
		}
		return out
	}
	want := &audit.Summary{Objects: 8, Pods: 9, Denied: 4, Warned: 2, Audited: 2,
		Policies: []audit.PolicyTotal{
			{Policy: "deny-privileged", Mode: v1alpha1.ModeEnforce, Totals: audit.Totals{Objects: 4, Pods: 4, Namespaces: ns("prod", 3, "dev", 1)},
				Rules: []audit.RuleTotal{{Rule: "containers.privileged", Totals: audit.Totals{Objects: 4, Pods: 4, Namespaces: ns("prod", 3, "dev", 1)}}}},
			// Two objects, like warn-latest: the tie goes by name.
			{Policy: "audit-registries", Mode: v1alpha1.ModeAudit, Totals: audit.Totals{Objects: 2, Pods: 2, Namespaces: ns("dev", 2)},
				Rules: []audit.RuleTotal{
					{Rule: "images.allowedRegistries", Totals: audit.Totals{Objects: 2, Pods: 2, Namespaces: ns("dev", 2)}},
					{Rule: "containers.hostNamespaces", Totals: audit.Totals{Objects: 1, Pods: 1, Namespaces: ns("dev", 1)}}}},
			{Policy: "warn-latest", Mode: v1alpha1.ModeWarn, Totals: audit.Totals{Objects: 2, Pods: 3, Namespaces: ns("prod", 2)},
				Rules: []audit.RuleTotal{{Rule: "images.disallowLatestTag", Totals: audit.Totals{Objects: 2, Pods: 3, Namespaces: ns("prod", 2)}}}},
		},
		Namespaces: []audit.NamespaceTotal{
			{Namespace: "prod", Objects: 4, Pods: 5, Denied: 3, Warned: 2},
			{Namespace: "dev", Objects: 3, Pods: 3, Denied: 1, Audited: 2},
			{Namespace: "staging", Objects: 1, Pods: 1},
		},
		Exceptions: []audit.ExceptionTotal{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// TestSummaryCountsOmittedViolations: a rule whose violations are all past the engine's limits still
// counts its object.
func TestSummaryCountsOmittedViolations(t *testing.T) {
	many := corev1.PodSpec{}
	for i := range 150 {
		many.Containers = append(many.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: latestImage})
	}
	_, entries, s := run(t, newAuditor([]*policy.Policy{warnLatest(t)}), objects(t, typedPod("prod", "wide", many)))
	if len(entries) != 1 || entries[0].OmittedViolations == 0 {
		t.Fatalf("entries = %+v, want one with omitted violations", view(entries))
	}
	e := entries[0]
	if len(e.Violations)+e.OmittedViolations != 150 {
		t.Errorf("listed %d + omitted %d, want 150 in all", len(e.Violations), e.OmittedViolations)
	}
	if s.Warned != 1 || len(s.Policies) != 1 || s.Policies[0].Objects != 1 || s.Policies[0].Rules[0].Objects != 1 {
		t.Errorf("summary = %+v", s)
	}
}

func TestDescribeTotals(t *testing.T) {
	three := audit.Totals{Objects: 14, Pods: 31, Namespaces: []audit.NamespaceCount{
		{Namespace: "prod", Objects: 9}, {Namespace: "dev", Objects: 4}, {Namespace: "staging", Objects: 1}}}
	for _, tc := range []struct {
		name  string
		t     audit.Totals
		worst int
		want  string
	}{
		{"all named", three, 5, "14 objects (31 pods) in 3 namespaces (prod: 9, dev: 4, staging: 1)"},
		{"exactly all", three, 3, "14 objects (31 pods) in 3 namespaces (prod: 9, dev: 4, staging: 1)"},
		{"cut", three, 2, "14 objects (31 pods) in 3 namespaces (prod: 9, dev: 4, … 1 more)"},
		{"cut to one", three, 1, "14 objects (31 pods) in 3 namespaces (prod: 9, … 2 more)"},
		{"singular", audit.Totals{Objects: 1, Pods: 1, Namespaces: []audit.NamespaceCount{{Namespace: "prod", Objects: 1}}}, 5,
			"1 object (1 pod) in 1 namespace (prod: 1)"},
		{"controller without pods", audit.Totals{Objects: 1, Pods: 0, Namespaces: []audit.NamespaceCount{{Namespace: "prod", Objects: 1}}}, 5,
			"1 object (0 pods) in 1 namespace (prod: 1)"},
		{"nothing", audit.Totals{}, 5, "0 objects (0 pods) in 0 namespaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := audit.DescribeTotals(tc.t, tc.worst); got != tc.want {
				t.Errorf("DescribeTotals(%d) = %q, want %q", tc.worst, got, tc.want)
			}
		})
	}
}
