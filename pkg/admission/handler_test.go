package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// The fixtures below are shared by the handler, malformed-input and fuzz tests.

const (
	testNamespace = "prod"
	testUID       = types.UID("705ab4f5-6393-11e8-b7cc-42010a800002")
)

// testCompile compiles a v1alpha1 policy as the API server or --policy-file would hand it over.
func testCompile(t testing.TB, name string, spec v1alpha1.PolicySpec) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
		Spec:       spec,
	})
	if err != nil {
		t.Fatalf("compiling policy %q: %v", name, err)
	}
	return p
}

// testPolicies is one policy per mode: "enforce" forbids privileged containers and images outside
// registry.example.com, "warn" warns on :latest, "audit" records containers without a memory limit.
func testPolicies(t testing.TB) StaticPolicies {
	return StaticPolicies{
		testCompile(t, "enforce", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
			Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden},
			Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{"registry.example.com/**"}}}),
		testCompile(t, "warn", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn,
			Images: &v1alpha1.ImageRules{DisallowLatestTag: true}}),
		testCompile(t, "audit", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit,
			Resources: &v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{corev1.ResourceMemory}}}),
	}
}

// testNamespacePolicy applies only to namespaces labelled env=prod.
func testNamespacePolicy(t testing.TB, name string, mode v1alpha1.Mode) *policy.Policy {
	return testCompile(t, name, v1alpha1.PolicySpec{Mode: mode,
		Match:      v1alpha1.Match{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}})
}

// testContainer is compliant with testPolicies: allowed registry, pinned tag, memory limit.
func testContainer(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image, Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}}
}

func testPrivileged(c corev1.Container) corev1.Container {
	c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	return c
}

func testWithoutLimits(c corev1.Container) corev1.Container {
	c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	return c
}

func testPodSpec(cs ...corev1.Container) corev1.PodSpec { return corev1.PodSpec{Containers: cs} }

var testGoodSpec = testPodSpec(testContainer("app", "registry.example.com/team/app:1.2.3"))

func testPod(spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNamespace, Labels: map[string]string{"app": "web"}},
		Spec:       spec}
}

func testDeployment(spec corev1.PodSpec, replicas int32, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
}

func testCronJob(spec corev1.PodSpec) *batchv1.CronJob {
	return &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: testNamespace},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}}}
}

func testRaw(t testing.TB, obj any) runtime.RawExtension {
	t.Helper()
	if obj == nil {
		return runtime.RawExtension{}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

// testRequest builds the request the API server sends for obj (and old, on UPDATE and DELETE). The
// kind and resource come from obj's TypeMeta; subresource is "" for the main resource.
func testRequest(t testing.TB, op admissionv1.Operation, subresource string, obj, old runtime.Object) *admissionv1.AdmissionRequest {
	t.Helper()
	src := obj
	if src == nil {
		src = old
	}
	gvk := src.GetObjectKind().GroupVersionKind()
	resource := strings.ToLower(gvk.Kind) + "s"
	if k, ok := workload.Lookup(gvk); ok {
		resource = k.Resource
	}
	if subresource != "" {
		resource = "pods" // every subresource tested here is a pod's
	}
	name := "web"
	if m, ok := src.(metav1.Object); ok && m.GetName() != "" {
		name = m.GetName()
	}
	req := &admissionv1.AdmissionRequest{
		UID:         testUID,
		Kind:        metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Resource:    metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
		SubResource: subresource,
		Name:        name,
		Namespace:   testNamespace,
		Operation:   op,
		UserInfo:    testUser,
	}
	if obj != nil {
		req.Object = testRaw(t, obj)
	}
	if old != nil {
		req.OldObject = testRaw(t, old)
	}
	return req
}

var testUser = authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}

// testReviewBody wraps a request in the AdmissionReview the API server posts.
func testReviewBody(t testing.TB, req *admissionv1.AdmissionRequest) []byte {
	t.Helper()
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeRecorder is a metrics.Recorder that remembers every call.
type fakeRecorder struct {
	mu         sync.Mutex
	decisions  []string
	violations []string // policy/rule/mode/action
}

func (r *fakeRecorder) Violation(policy, rule, mode, action string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := policy + "/" + rule + "/" + mode + "/" + action
	if n != 1 {
		v += " x" + strconv.Itoa(n)
	}
	r.violations = append(r.violations, v)
}

// counted is the number of violations the recorder was told of.
func (r *fakeRecorder) counted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.violations {
		_, times, ok := strings.Cut(v, " x")
		if !ok {
			n++
			continue
		}
		k, _ := strconv.Atoi(times)
		n += k
	}
	return n
}

func (r *fakeRecorder) Decision(decision string, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if elapsed < 0 {
		decision += " (negative duration)"
	}
	r.decisions = append(r.decisions, decision)
}

type fakeFailingPolicies struct{}

func (fakeFailingPolicies) Policies() ([]*policy.Policy, error) {
	return nil, errors.New("informer has not synced")
}

// fakeNamespaces answers namespace label lookups from a map; err, if set, fails every lookup.
type fakeNamespaces struct {
	labels map[string]map[string]string
	err    error
}

func (n fakeNamespaces) Labels(_ context.Context, name string) (map[string]string, error) {
	if n.err != nil {
		return nil, n.err
	}
	return n.labels[name], nil
}

func testHandler(t testing.TB, src PolicySource, ns engine.Namespaces) (*Handler, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	h := &Handler{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: ns}, Policies: src, Metrics: rec}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	return h, rec
}

// testOutcome is what a test asserts about one response.
type testOutcome struct {
	Allowed  bool
	Code     int32
	Reason   metav1.StatusReason
	Decision string
	// Denials and Warnings hold "path [policy/rule]" for each line of the denial message and each warning.
	Denials  []string
	Warnings []string
	// Audit is the decoded audit annotation, without the messages (checked to be non-empty).
	Audit []engine.Violation
	// Violations are the metrics recorded: policy/rule/mode/action.
	Violations []string
}

// testSummarize reduces "spec.x: message [policy/rule]" to "spec.x [policy/rule]", failing if the
// message in between is missing.
func testSummarize(t *testing.T, line string) string {
	t.Helper()
	colon, bracket := strings.Index(line, ": "), strings.LastIndex(line, " [")
	if colon < 0 || bracket < colon+2 || !strings.HasSuffix(line, "]") {
		t.Errorf("violation line %q is not \"path: message [policy/rule]\"", line)
		return line
	}
	if strings.TrimSpace(line[colon+2:bracket]) == "" {
		t.Errorf("violation line %q has no message", line)
	}
	return line[:colon] + line[bracket:]
}

func testOutcomeOf(t *testing.T, resp *admissionv1.AdmissionResponse, decision string, rec *fakeRecorder) testOutcome {
	t.Helper()
	got := testOutcome{Allowed: resp.Allowed, Decision: decision, Violations: rec.violations}
	if resp.Result != nil {
		got.Code, got.Reason = resp.Result.Code, resp.Result.Reason
		if got.Reason == metav1.StatusReasonForbidden {
			lines := strings.Split(resp.Result.Message, "\n")
			for _, l := range lines[1:] {
				got.Denials = append(got.Denials, testSummarize(t, strings.TrimPrefix(l, "- ")))
			}
		}
	}
	for _, w := range resp.Warnings {
		if !strings.HasPrefix(w, "sealgate: ") {
			t.Errorf("warning %q does not start with \"sealgate: \"", w)
		}
		got.Warnings = append(got.Warnings, testSummarize(t, strings.TrimPrefix(w, "sealgate: ")))
	}
	if a, ok := resp.AuditAnnotations[AuditAnnotationKey]; ok {
		if err := json.Unmarshal([]byte(a), &got.Audit); err != nil {
			t.Errorf("audit annotation %q: %v", a, err)
		}
		for i := range got.Audit {
			if got.Audit[i].Message == "" {
				t.Errorf("audit violation %d has no message", i)
			}
			got.Audit[i].Message = ""
		}
	}
	return got
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	unreachable := fakeNamespaces{err: errors.New("namespaces \"prod\" is forbidden: etcd unavailable")}
	ephemeral := testPod(testGoodSpec)
	ephemeral.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Image: "registry.example.com/tools/debug:1.0",
		SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
	resized := testPod(testPodSpec(testWithoutLimits(testGoodSpec.Containers[0])))

	tests := []struct {
		name     string
		req      *admissionv1.AdmissionRequest
		policies PolicySource // nil: testPolicies
		ns       engine.Namespaces
		// message, if set, must appear in Result.Message.
		message string
		want    testOutcome
	}{{
		name: "compliant pod is allowed",
		req:  testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed"},
	}, {
		name: "privileged pod is denied with every violation",
		req: testRequest(t, admissionv1.Create, "", testPod(testPodSpec(
			testPrivileged(testContainer("app", "registry.example.com/team/app:1.2.3")),
			testPrivileged(testContainer("sidecar", "registry.example.com/team/proxy:2.0")))), nil),
		message: `Pod "web" in namespace "prod" was denied by sealgate (2 violations):`,
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials: []string{
				"spec.containers[0].securityContext.privileged [enforce/containers.privileged]",
				"spec.containers[1].securityContext.privileged [enforce/containers.privileged]",
			},
			Violations: []string{"enforce/containers.privileged/Enforce/denied", "enforce/containers.privileged/Enforce/denied"}},
	}, {
		name: "deployment is denied with template paths",
		req: testRequest(t, admissionv1.Create, "", testDeployment(testPodSpec(
			testPrivileged(testContainer("app", "docker.io/library/nginx:1.27"))), 2, nil), nil),
		message: `Deployment "web" in namespace "prod" was denied`,
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials: []string{
				"spec.template.spec.containers[0].securityContext.privileged [enforce/containers.privileged]",
				"spec.template.spec.containers[0].image [enforce/images.allowedRegistries]",
			},
			Violations: []string{"enforce/containers.privileged/Enforce/denied", "enforce/images.allowedRegistries/Enforce/denied"}},
	}, {
		name: "cronjob is denied with job template paths",
		req: testRequest(t, admissionv1.Create, "", testCronJob(corev1.PodSpec{
			InitContainers: []corev1.Container{testPrivileged(testContainer("init", "registry.example.com/team/init:1.0"))},
			Containers:     []corev1.Container{testContainer("job", "registry.example.com/team/job:1.0")}}), nil),
		message: `CronJob "nightly" in namespace "prod" was denied`,
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials: []string{
				"spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged [enforce/containers.privileged]",
			},
			Violations: []string{"enforce/containers.privileged/Enforce/denied"}},
	}, {
		name: "warn violation is allowed with a warning",
		req:  testRequest(t, admissionv1.Create, "", testPod(testPodSpec(testContainer("app", "registry.example.com/team/app:latest"))), nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed",
			Warnings:   []string{"spec.containers[0].image [warn/images.disallowLatestTag]"},
			Violations: []string{"warn/images.disallowLatestTag/Warn/warned"}},
	}, {
		name: "audit violation is allowed with an audit annotation",
		req:  testRequest(t, admissionv1.Create, "", testPod(testPodSpec(testWithoutLimits(testGoodSpec.Containers[0]))), nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed",
			Audit: []engine.Violation{{Policy: "audit", Rule: "resources.requireLimits", Mode: v1alpha1.ModeAudit,
				Path: "spec.containers[0].resources.limits.memory", Container: "app"}},
			Violations: []string{"audit/resources.requireLimits/Audit/audited"}},
	}, {
		name: "update that only scales and relabels a violating deployment is allowed",
		req: testRequest(t, admissionv1.Update, "",
			testDeployment(testPodSpec(testPrivileged(testContainer("app", "docker.io/library/nginx:1.27"))), 5, map[string]string{"tier": "web"}),
			testDeployment(testPodSpec(testPrivileged(testContainer("app", "docker.io/library/nginx:1.27"))), 1, nil)),
		message: "pod spec unchanged",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "update that changes an image to a disallowed one is denied",
		req: testRequest(t, admissionv1.Update, "",
			testDeployment(testPodSpec(testContainer("app", "docker.io/library/nginx:1.27")), 2, nil),
			testDeployment(testGoodSpec, 2, nil)),
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials:    []string{"spec.template.spec.containers[0].image [enforce/images.allowedRegistries]"},
			Violations: []string{"enforce/images.allowedRegistries/Enforce/denied"}},
	}, {
		name:    "status subresource is skipped",
		req:     testRequest(t, admissionv1.Update, "status", testPod(testPodSpec(testPrivileged(testContainer("app", "evil.example.com/x:1")))), nil),
		message: "does not check the status subresource",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "exec is skipped",
		req: testRequest(t, admissionv1.Connect, "exec",
			&corev1.PodExecOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodExecOptions"}, Command: []string{"sh"}}, nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "binding subresource is skipped",
		req: testRequest(t, admissionv1.Create, "binding", &corev1.Binding{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Binding"},
			ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, nil),
		message: "does not check the binding subresource",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "eviction subresource is skipped",
		req: testRequest(t, admissionv1.Create, "eviction", &policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
			ObjectMeta: metav1.ObjectMeta{Name: "web"}}, nil),
		message: "does not check the eviction subresource",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "privileged ephemeral container is denied",
		req:  testRequest(t, admissionv1.Update, "ephemeralcontainers", ephemeral, testPod(testGoodSpec)),
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials:    []string{"spec.ephemeralContainers[0].securityContext.privileged [enforce/containers.privileged]"},
			Violations: []string{"enforce/containers.privileged/Enforce/denied"}},
	}, {
		name: "resize is checked",
		req:  testRequest(t, admissionv1.Update, "resize", resized, testPod(testGoodSpec)),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed",
			Audit: []engine.Violation{{Policy: "audit", Rule: "resources.requireLimits", Mode: v1alpha1.ModeAudit,
				Path: "spec.containers[0].resources.limits.memory", Container: "app"}},
			Violations: []string{"audit/resources.requireLimits/Audit/audited"}},
	}, {
		name:    "delete is skipped",
		req:     testRequest(t, admissionv1.Delete, "", nil, testPod(testPodSpec(testPrivileged(testContainer("app", "evil.example.com/x:1"))))),
		message: "only CREATE and UPDATE",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "service is not a workload",
		req: testRequest(t, admissionv1.Create, "", &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: "web"}}, nil),
		message: "does not check",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "undecodable object is denied as a bad request",
		req: func() *admissionv1.AdmissionRequest {
			r := testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil)
			r.Object.Raw = []byte(`{"spec":{"containers":"x"}}`)
			return r
		}(),
		message: "could not decode the object",
		want:    testOutcome{Code: 400, Reason: metav1.StatusReasonBadRequest, Decision: "error"},
	}, {
		name:     "policies that fail to load deny as an internal error",
		req:      testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil),
		policies: fakeFailingPolicies{},
		message:  "policies are not loaded: informer has not synced",
		want:     testOutcome{Code: 500, Reason: metav1.StatusReasonInternalError, Decision: "error"},
	}, {
		name:     "namespace lookup failure denies in Enforce",
		req:      testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil),
		policies: StaticPolicies{testNamespacePolicy(t, "prod-only", v1alpha1.ModeEnforce)},
		ns:       unreachable,
		message:  "etcd unavailable",
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials:    []string{"metadata.namespace [prod-only/match.namespaceSelector]"},
			Violations: []string{"prod-only/match.namespaceSelector/Enforce/denied"}},
	}, {
		name:     "namespace lookup failure warns in Warn",
		req:      testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil),
		policies: StaticPolicies{testNamespacePolicy(t, "prod-only", v1alpha1.ModeWarn)},
		ns:       unreachable,
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed",
			Warnings:   []string{"metadata.namespace [prod-only/match.namespaceSelector]"},
			Violations: []string{"prod-only/match.namespaceSelector/Warn/warned"}},
	}, {
		name:     "namespace selector that does not match admits a privileged pod",
		req:      testRequest(t, admissionv1.Create, "", testPod(testPodSpec(testPrivileged(testGoodSpec.Containers[0]))), nil),
		policies: StaticPolicies{testNamespacePolicy(t, "prod-only", v1alpha1.ModeEnforce)},
		ns:       fakeNamespaces{labels: map[string]map[string]string{testNamespace: {"env": "dev"}}},
		want:     testOutcome{Allowed: true, Code: 200, Decision: "allowed"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.policies
			if src == nil {
				src = testPolicies(t)
			}

			h, rec := testHandler(t, src, tc.ns)
			resp, decision := h.Review(ctx, tc.req)
			if resp.UID != tc.req.UID {
				t.Errorf("response UID %q, want %q", resp.UID, tc.req.UID)
			}
			if tc.message != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.message)) {
				t.Errorf("message %q does not contain %q", resp.Result.Message, tc.message)
			}
			if diff := cmp.Diff(tc.want, testOutcomeOf(t, resp, decision, rec)); diff != "" {
				t.Errorf("Review (-want +got):\n%s\nmessage: %s", diff, resp.Result.Message)
			}

			// dryRun gets the same verdict.
			dry := *tc.req
			dry.DryRun = ptr.To(true)
			h, _ = testHandler(t, src, tc.ns)
			dryResp, _ := h.Review(ctx, &dry)
			if diff := cmp.Diff(resp, dryResp); diff != "" {
				t.Errorf("dryRun response differs (-wet +dry):\n%s", diff)
			}

			// Over HTTP: the same response in an AdmissionReview, and one decision recorded.
			h, rec = testHandler(t, src, tc.ns)
			httpResp := testServeHTTP(t, h, testReviewBody(t, tc.req))
			if diff := cmp.Diff(resp, httpResp); diff != "" {
				t.Errorf("ServeHTTP response differs from Review (-Review +ServeHTTP):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tc.want.Decision}, rec.decisions); diff != "" {
				t.Errorf("recorded decisions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.Violations, rec.violations); diff != "" {
				t.Errorf("violations recorded by ServeHTTP (-want +got):\n%s", diff)
			}
		})
	}
}

// testServeHTTP posts an AdmissionReview to h and returns the response, failing unless it is a 200 with an
// admission.k8s.io/v1 AdmissionReview.
func testServeHTTP(t *testing.T, h http.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("decoding response %s: %v", w.Body, err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("response is not an admission.k8s.io/v1 AdmissionReview with a response: %s", w.Body)
	}
	return out.Response
}

func TestServeHTTPRejectsMalformedRequests(t *testing.T) {
	h, rec := testHandler(t, testPolicies(t), nil)
	valid := testReviewBody(t, testRequest(t, admissionv1.Create, "", testPod(testGoodSpec), nil))
	const head = `"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"`
	oversized := []byte(`{` + head + `,"request":{"uid":"u","object":{"pad":"` +
		strings.Repeat("a", MaxReviewBytes) + `"}}}`)

	tests := []struct {
		name, method, contentType string
		body                      []byte
		want                      string // in the 400 body
	}{
		{"GET", http.MethodGet, "application/json", valid, "method GET"},
		{"text content type", http.MethodPost, "text/plain", valid, "content type"},
		{"no content type", http.MethodPost, "", valid, "content type"},
		{"invalid JSON", http.MethodPost, "application/json", []byte(`{"apiVersion":`), "decoding AdmissionReview"},
		{"not an object", http.MethodPost, "application/json", []byte(`[]`), "decoding AdmissionReview"},
		{"empty object", http.MethodPost, "application/json", []byte(`{}`), "expected admission.k8s.io/v1 AdmissionReview"},
		{"no request", http.MethodPost, "application/json", []byte(`{` + head + `}`), "no request"},
		{"null request", http.MethodPost, "application/json", []byte(`{` + head + `,"request":null}`), "no request"},
		{"no uid", http.MethodPost, "application/json", []byte(`{` + head + `,"request":{"operation":"CREATE"}}`), "no uid"},
		{"wrong case", http.MethodPost, "application/json", []byte(`{` + head + `,"Request":{"uid":"u"}}`), "no request"},
		{"duplicate field", http.MethodPost, "application/json",
			[]byte(`{` + head + `,"request":{"uid":"u"},"request":{"uid":"v"}}`), "duplicate"},
		{"v1beta1", http.MethodPost, "application/json",
			[]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`), "admission.k8s.io/v1beta1"},
		{"wrong kind", http.MethodPost, "application/json",
			[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u"}}`), "expected admission.k8s.io/v1 AdmissionReview"},
		{"over MaxReviewBytes", http.MethodPost, "application/json", oversized, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.decisions = nil
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, "/validate", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			h.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest {
				t.Errorf("HTTP %d, want 400; body: %.200s", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("body %.300q does not contain %q", w.Body, tc.want)
			}
			if diff := cmp.Diff([]string{"error"}, rec.decisions); diff != "" {
				t.Errorf("recorded decisions (-want +got):\n%s", diff)
			}

			// The handler keeps no state from a bad request: a valid one still succeeds.
			if resp := testServeHTTP(t, h, valid); !resp.Allowed || resp.UID != testUID {
				t.Errorf("valid request after a malformed one: allowed=%v uid=%q", resp.Allowed, resp.UID)
			}
		})
	}
}

func TestDefaultsRequiresEngineAndPolicies(t *testing.T) {
	for _, h := range []*Handler{{}, {Engine: &engine.Engine{Rules: rules.Default()}}, {Policies: StaticPolicies{}}} {
		if err := h.Defaults(); err == nil {
			t.Errorf("Defaults() on %+v: no error", h)
		}
	}
}
