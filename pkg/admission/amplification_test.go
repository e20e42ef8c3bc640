package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
)

// The tests in this file hold the webhook to its output limits (pkg/engine/limits.go) on pods
// crafted to amplify: a pod's size must not multiply into the size of the answer, the audit
// annotation, the log or the memory used.

// testManyCapabilities is a pod whose one container adds n capabilities, cycling over 676
// two-letter names so that the body stays short.
func testManyCapabilities(n int) *corev1.Pod {
	add := make([]corev1.Capability, n)
	for i := range add {
		add[i] = corev1.Capability([]byte{'A' + byte(i/26%26), 'A' + byte(i%26)})
	}
	return testCapabilitiesPod(add)
}

// testDistinctCapabilities adds n capabilities that are all different names: nothing a locator
// remembers helps, and upstream's set of forbidden names holds them all.
func testDistinctCapabilities(n int) *corev1.Pod {
	add := make([]corev1.Capability, n)
	for i := range add {
		add[i] = corev1.Capability(strconv.FormatInt(int64(i), 36))
	}
	return testCapabilitiesPod(add)
}

func testCapabilitiesPod(add []corev1.Capability) *corev1.Pod {
	c := testContainer("app", "registry.example.com/team/app:1.2.3")
	c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add}}
	return testPod(testPodSpec(c))
}

// testAmplificationPolicies is the chart's default (baseline, here in the given mode) plus a
// capabilities rule, so that two rules judge the same list.
func testAmplificationPolicies(t testing.TB, mode v1alpha1.Mode) StaticPolicies {
	return StaticPolicies{testCompile(t, "baseline", v1alpha1.PolicySpec{Mode: mode,
		PodSecurity: &v1alpha1.PodSecurity{Level: "baseline", Version: "latest"},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden,
			Capabilities: &v1alpha1.CapabilityRules{AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}}},
		Resources: &v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{corev1.ResourceCPU}}})}
}

// testLog is a logger that writes JSON lines as `sealgate serve` does.
func testLog() (logr.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return logr.FromSlogHandler(slog.NewJSONHandler(&b, nil)), &b
}

// testLogLines splits what testLog wrote into lines.
func testLogLines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// testCheckBounds asserts every limit of pkg/engine/limits.go on one response and its log.
func testCheckBounds(t *testing.T, resp *admissionv1.AdmissionResponse, logLines []string) {
	t.Helper()
	if resp.Result != nil && len(resp.Result.Message) > engine.MaxDenialBytes {
		t.Errorf("denial message is %d bytes, over MaxDenialBytes", len(resp.Result.Message))
	}
	runes := 0
	for _, w := range resp.Warnings {
		runes += utf8.RuneCountInString(w)
	}
	if runes > engine.MaxWarningRunes || len(resp.Warnings) > engine.MaxWarnings {
		t.Errorf("%d warnings of %d runes, over MaxWarnings or MaxWarningRunes", len(resp.Warnings), runes)
	}
	if a, ok := resp.AuditAnnotations[AuditAnnotationKey]; ok {
		if len(a) > engine.MaxAuditAnnotationBytes {
			t.Errorf("audit annotation is %d bytes, over MaxAuditAnnotationBytes", len(a))
		}
		var vs []engine.Violation
		if err := json.Unmarshal([]byte(a), &vs); err != nil {
			t.Errorf("audit annotation is not a JSON array of violations: %v", err)
		}
	}
	for _, l := range logLines {
		// The line holds the object's name and a few fields beside the violations.
		if len(l) > engine.MaxLogBytes+1024 {
			t.Errorf("log line of %d bytes, over MaxLogBytes", len(l))
		}
	}
}

// TestManyCapabilitiesCollapse: 600,000 capabilities are one violation per rule, in every mode,
// and every output says how many there were. The two rules that flag the add list are one
// violation naming both.
func TestManyCapabilitiesCollapse(t *testing.T) {
	const n = 600_000
	body := testReviewBody(t, testRequest(t, admissionv1.Create, "", testManyCapabilities(n), nil))
	for _, tc := range []struct {
		mode    v1alpha1.Mode
		allowed bool
	}{{v1alpha1.ModeEnforce, false}, {v1alpha1.ModeWarn, true}, {v1alpha1.ModeAudit, true}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			h, rec := testHandler(t, testAmplificationPolicies(t, tc.mode), nil)
			log, logged := testLog()
			h.Log = log
			resp, decision, err := h.ReviewBody(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed=%v (%s), want %v", resp.Allowed, decision, tc.allowed)
			}
			testCheckBounds(t, resp, testLogLines(logged))

			// Each rule reports the list once, with its length and its first names.
			var text string
			switch tc.mode {
			case v1alpha1.ModeEnforce:
				text = resp.Result.Message
				if !strings.Contains(text, "(2 violations):") {
					t.Errorf("denial does not count 2 violations:\n%.2000s", text)
				}
			case v1alpha1.ModeWarn:
				text = strings.Join(resp.Warnings, "\n")
			case v1alpha1.ModeAudit:
				text = resp.AuditAnnotations[AuditAnnotationKey]
			}
			want := []string{
				`spec.containers[0].securityContext.capabilities.add: container \"app\" adds 600000 capabilities that are not allowed: \"AA\", \"AB\", \"AC\", … (599997 more)`,
				`[baseline/containers.capabilities, podSecurity.capabilities_baseline]`,
				`[baseline/resources.requireLimits]`,
			}
			if tc.mode == v1alpha1.ModeAudit {
				want = []string{`"path":"spec.containers[0].securityContext.capabilities.add"`,
					`adds 600000 capabilities that are not allowed: \"AA\", \"AB\", \"AC\", … (599997 more)`,
					`"rule":"containers.capabilities","alsoRules":["podSecurity.capabilities_baseline"]`}
			} else {
				for i := range want {
					want[i] = strings.ReplaceAll(want[i], `\"`, `"`)
				}
				want[0] = strings.TrimPrefix(want[0], "spec.containers[0].securityContext.capabilities.add: ")
			}
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%.3000s", w, text)
				}
			}
			if len(rec.violations) != 3 {
				t.Errorf("metrics recorded %d violations, want 3 (one per rule): %v", len(rec.violations), rec.violations)
			}
		})
	}
}

// TestManyContainersAreCapped: 2,000 containers that break four rules each give far more violations
// than any output holds; each output is within its limit and says how many it does not show.
func TestManyContainersAreCapped(t *testing.T) {
	const n = 2000
	cs := make([]corev1.Container, n)
	for i := range cs {
		cs[i] = testPrivileged(testWithoutLimits(testContainer("c"+strconv.Itoa(i), "registry.example.com/team/app:latest")))
	}
	body := testReviewBody(t, testRequest(t, admissionv1.Create, "", testPod(testPodSpec(cs...)), nil))
	spec := func(mode v1alpha1.Mode) v1alpha1.PolicySpec {
		return v1alpha1.PolicySpec{Mode: mode,
			Images:     &v1alpha1.ImageRules{DisallowLatestTag: true},
			Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden, ReadOnlyRootFilesystem: v1alpha1.Required},
			Resources:  &v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{corev1.ResourceMemory}}}
	}
	policies := StaticPolicies{
		testCompile(t, "enforce", spec(v1alpha1.ModeEnforce)),
		testCompile(t, "warn", spec(v1alpha1.ModeWarn)),
		testCompile(t, "audit", spec(v1alpha1.ModeAudit)),
	}
	h, rec := testHandler(t, policies, nil)
	log, logged := testLog()
	h.Log = log
	resp, _, err := h.ReviewBody(context.Background(), body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed || resp.Result.Code != 403 {
		t.Fatalf("allowed=%v code=%d, want a denial", resp.Allowed, resp.Result.Code)
	}
	testCheckBounds(t, resp, testLogLines(logged))

	const perMode = 4 * n // four rules, every container
	msg := resp.Result.Message
	lines0 := strings.Split(msg, "\n")
	if !strings.Contains(lines0[0], fmt.Sprintf("(%d violations):", perMode)) {
		t.Errorf("denial header %q does not count all %d violations", lines0[0], perMode)
	}
	listed := 0
	for _, l := range lines0[1:] {
		if strings.HasPrefix(l, "- ") {
			listed++
			testSummarize(t, strings.TrimPrefix(l, "- "))
		}
	}
	if listed == 0 || listed > engine.MaxDenialViolations {
		t.Errorf("denial lists %d violations, want 1 to MaxDenialViolations", listed)
	}
	if want := fmt.Sprintf("… and %d more violations not shown", perMode-listed); lines0[len(lines0)-1] != want {
		t.Errorf("denial ends with %q, want %q", lines0[len(lines0)-1], want)
	}

	last := resp.Warnings[len(resp.Warnings)-1]
	if want := fmt.Sprintf("sealgate: %d more warnings not shown", perMode-(len(resp.Warnings)-1)); last != want {
		t.Errorf("last warning %q, want %q", last, want)
	}

	var audited []engine.Violation
	if err := json.Unmarshal([]byte(resp.AuditAnnotations[AuditAnnotationKey]), &audited); err != nil {
		t.Fatal(err)
	}
	omitted, err := strconv.Atoi(resp.AuditAnnotations[AuditOmittedAnnotationKey])
	if err != nil || len(audited) == 0 || len(audited)+omitted != perMode {
		t.Errorf("audit annotation lists %d and says %q omitted, want %d in all", len(audited),
			resp.AuditAnnotations[AuditOmittedAnnotationKey], perMode)
	}

	var line struct {
		Msg        string
		Violations []engine.Violation
		Omitted    int
	}
	if lines := testLogLines(logged); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &line) != nil ||
		line.Msg != "audit violations" || len(line.Violations) == 0 || len(line.Violations)+line.Omitted != perMode {
		t.Errorf("want one audit log line listing violations and counting the rest (%d in all), got %.1000s", perMode, logged)
	}
	// Metrics count every violation, listed or not, in calls bounded by the engine's limits, not by
	// the pod: one per violation listed, one per policy and rule for the rest.
	if max := 3*engine.MaxViolationsPerMode + 3*4; len(rec.violations) > max {
		t.Errorf("metrics recorded %d calls, over %d", len(rec.violations), max)
	}
	if got := rec.counted(); got != 3*perMode {
		t.Errorf("metrics counted %d violations, want all %d", got, 3*perMode)
	}
}

// TestHugeValuesAreCut: a capability name and a container name of a megabyte each are quoted in
// messages only up to rules.MaxValueBytes.
func TestHugeValuesAreCut(t *testing.T) {
	huge := strings.Repeat("N", 1<<20)
	pod := testManyCapabilities(0)
	c := &pod.Spec.Containers[0]
	c.Name = strings.Repeat("c", 1<<20)
	c.SecurityContext.Capabilities.Add = []corev1.Capability{corev1.Capability(huge)}
	body := testReviewBody(t, testRequest(t, admissionv1.Create, "", pod, nil))
	for _, mode := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeAudit} {
		t.Run(string(mode), func(t *testing.T) {
			h, _ := testHandler(t, testAmplificationPolicies(t, mode), nil)
			log, logged := testLog()
			h.Log = log
			resp, _, err := h.ReviewBody(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			testCheckBounds(t, resp, testLogLines(logged))
			out := resp.AuditAnnotations[AuditAnnotationKey]
			if mode == v1alpha1.ModeEnforce {
				out = resp.Result.Message
			}
			if len(out) > 8<<10 {
				t.Errorf("output is %d bytes for three violations", len(out))
			}
			if want := `adds capability "` + strings.Repeat("N", 125) + `…"`; !strings.Contains(strings.ReplaceAll(out, `\"`, `"`), want) {
				t.Errorf("output does not quote the capability cut with a mark:\n%.1000s", out)
			}
		})
	}
}

// TestAmplificationMemoryIsLinear: what evaluating a crafted pod allocates, decoding included, is a
// bounded multiple of its body (measured, never timed): about 20 times for 600,000 repeated
// capability names, 60 times for distinct ones (most of it decoding and upstream's own Pod Security
// evaluation, which the API server runs too), 30 for 20,000 containers. Before findings were
// collapsed and capped, repeated names cost over 300 times the body, and the answer alone 20 times.
func TestAmplificationMemoryIsLinear(t *testing.T) {
	cs := make([]corev1.Container, 20_000)
	for i := range cs {
		cs[i] = testPrivileged(testWithoutLimits(testContainer("c"+strconv.Itoa(i), "registry.example.com/team/app:1.0")))
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
	}{
		{"repeated names", testManyCapabilities(600_000)},
		{"distinct names", testDistinctCapabilities(600_000)},
		{"many containers", testPod(testPodSpec(cs...))},
	} {
		body := testReviewBody(t, testRequest(t, admissionv1.Create, "", tc.pod, nil))
		for _, mode := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeAudit} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				h, _ := testHandler(t, testAmplificationPolicies(t, mode), nil)
				h.Log = logr.Discard()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				resp, _, err := h.ReviewBody(context.Background(), body)
				if err != nil {
					t.Fatal(err)
				}
				out, err := json.Marshal(review(resp))
				if err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				allocated := after.TotalAlloc - before.TotalAlloc
				t.Logf("body %d bytes, response %d bytes, allocated %d bytes (%.1f× the body)",
					len(body), len(out), allocated, float64(allocated)/float64(len(body)))
				if len(out) > 64<<10 {
					t.Errorf("response is %d bytes", len(out))
				}
				if limit := uint64(100 * len(body)); allocated > limit {
					t.Errorf("allocated %d bytes, over 100× the %d-byte body", allocated, len(body))
				}
			})
		}
	}
}
