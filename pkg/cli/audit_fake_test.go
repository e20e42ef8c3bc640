package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

// fakeAPI is the part of an API server `sealgate audit` reads, answering JSON. It pages every list
// by limit and continue, and records every request it sees.
type fakeAPI struct {
	t          *testing.T
	namespaces []json.RawMessage
	nsNames    map[string]json.RawMessage
	objects    map[string][]fakeItem // by resource
	policies   []json.RawMessage
	exceptions []json.RawMessage
	// noExceptionCRD answers 404 for PolicyExceptions, as a cluster without that CRD does.
	noExceptionCRD bool
	// webhook is served as ValidatingWebhookConfiguration sealgate; nil answers 404.
	webhook *admissionregistrationv1.ValidatingWebhookConfiguration
	// webhookForbidden answers 403 to a read of the configuration, as for an RBAC role without it.
	webhookForbidden bool
	// noCRD answers 404 for ClusterAdmissionPolicies, as a cluster without sealgate's CRD does.
	noCRD bool
	// expire names a resource whose continue tokens have expired (410, reason Expired).
	expire string

	server   string
	mu       sync.Mutex
	requests []*url.URL
	issued   map[string][]string // continue tokens handed out, by resource
}

type fakeItem struct {
	namespace string
	raw       json.RawMessage
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, nsNames: map[string]json.RawMessage{}, objects: map[string][]fakeItem{}, issued: map[string][]string{}}
}

func (f *fakeAPI) addNamespace(name string, labels map[string]string) {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("ns-" + name),
			Labels: map[string]string{"kubernetes.io/metadata.name": name}}}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	raw := auditJSON(f.t, ns)
	f.namespaces = append(f.namespaces, raw)
	f.nsNames[name] = raw
}

// add stores pod-bearing objects; the resource comes from the Go type.
func (f *fakeAPI) add(objs ...metav1.Object) {
	for _, o := range objs {
		var resource string
		switch o.(type) {
		case *corev1.Pod:
			resource = "pods"
		case *appsv1.ReplicaSet:
			resource = "replicasets"
		case *appsv1.Deployment:
			resource = "deployments"
		default:
			f.t.Fatalf("fakeAPI: no resource for %T", o)
		}
		f.objects[resource] = append(f.objects[resource], fakeItem{o.GetNamespace(), auditJSON(f.t, o)})
	}
}

// addPolicy serves a ClusterAdmissionPolicy, written as YAML, in the cluster's list.
func (f *fakeAPI) addPolicy(doc string) {
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		f.t.Fatal(err)
	}
	f.policies = append(f.policies, raw)
}

// addException serves a PolicyException, written as YAML, in the cluster's list.
func (f *fakeAPI) addException(doc string) {
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		f.t.Fatal(err)
	}
	f.exceptions = append(f.exceptions, raw)
}

// start serves on 127.0.0.1 and returns a kubeconfig file that points at it.
func (f *fakeAPI) start() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	f.server = srv.URL
	path := filepath.Join(f.t.TempDir(), "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: fake, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
`, srv.URL)
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func (f *fakeAPI) seen() []*url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// seenPath returns the requests made to one path.
func (f *fakeAPI) seenPath(path string) []*url.URL {
	var out []*url.URL
	for _, u := range f.seen() {
		if u.Path == path {
			out = append(out, u)
		}
	}
	return out
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := *r.URL
	f.mu.Lock()
	f.requests = append(f.requests, &u)
	f.mu.Unlock()
	if r.Method != http.MethodGet {
		f.t.Errorf("fakeAPI: unexpected %s %s", r.Method, r.URL)
		fakeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "read only")
		return
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/api/v1/namespaces":
		f.list(w, r, "namespaces", "v1", "NamespaceList", f.namespaces)
	case len(p) == 4 && p[0] == "api" && p[2] == "namespaces":
		if raw, ok := f.nsNames[p[3]]; ok {
			fakeWrite(w, http.StatusOK, raw)
		} else {
			fakeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("namespaces %q not found", p[3]))
		}
	case r.URL.Path == "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/sealgate":
		if f.webhookForbidden {
			fakeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "validatingwebhookconfigurations.admissionregistration.k8s.io \"sealgate\" is forbidden")
			return
		}
		if f.webhook == nil {
			fakeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, `validatingwebhookconfigurations.admissionregistration.k8s.io "sealgate" not found`)
			return
		}
		fakeWrite(w, http.StatusOK, auditJSON(f.t, f.webhook))
	case r.URL.Path == auditPolicies && f.noCRD:
		fakeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
	case r.URL.Path == auditPolicies:
		f.list(w, r, "clusteradmissionpolicies", "sealgate.dev/v1alpha1", "ClusterAdmissionPolicyList", f.policies)
	case r.URL.Path == auditExceptions && f.noExceptionCRD:
		fakeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
	case r.URL.Path == auditExceptions:
		f.list(w, r, "policyexceptions", "sealgate.dev/v1alpha1", "PolicyExceptionList", f.exceptions)
	default:
		f.podBearing(w, r, p)
	}
}

// podBearing answers a list of a pod-bearing kind, cluster-wide or in one namespace:
// /api/v1[/namespaces/NS]/RESOURCE or /apis/GROUP/v1[/namespaces/NS]/RESOURCE.
func (f *fakeAPI) podBearing(w http.ResponseWriter, r *http.Request, p []string) {
	group, rest := "", p
	switch {
	case len(p) >= 3 && p[0] == "api" && p[1] == "v1":
		rest = p[2:]
	case len(p) >= 4 && p[0] == "apis" && p[2] == "v1":
		group, rest = p[1], p[3:]
	default:
		rest = nil
	}
	namespace := ""
	if len(rest) == 3 && rest[0] == "namespaces" {
		namespace, rest = rest[1], rest[2:]
	}
	for _, k := range workload.Kinds {
		if len(rest) != 1 || k.Resource != rest[0] || k.GVK.Group != group {
			continue
		}
		items := []json.RawMessage{}
		for _, it := range f.objects[k.Resource] {
			if namespace == "" || it.namespace == namespace {
				items = append(items, it.raw)
			}
		}
		f.list(w, r, k.Resource, k.GVK.GroupVersion().String(), k.GVK.Kind+"List", items)
		return
	}
	f.t.Errorf("fakeAPI: unexpected request %s", r.URL)
	fakeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

// list answers one page: up to limit items from the offset the continue token names.
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request, resource, apiVersion, kind string, items []json.RawMessage) {
	q := r.URL.Query()
	start := 0
	if c := q.Get("continue"); c != "" {
		if f.expire == resource {
			fakeStatus(w, http.StatusGone, metav1.StatusReasonExpired, "The provided continue parameter is too old to display a consistent list result.")
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(c, resource+"."))
		if err != nil || !strings.HasPrefix(c, resource+".") {
			f.t.Errorf("fakeAPI: %s: continue token %q was not handed out for it", resource, c)
			fakeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad continue token")
			return
		}
		start = n
	}
	end := len(items)
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && start+n < end {
		end = start + n
	}
	meta := map[string]string{"resourceVersion": "42"}
	if end < len(items) {
		meta["continue"] = fmt.Sprintf("%s.%d", resource, end)
		f.mu.Lock()
		f.issued[resource] = append(f.issued[resource], meta["continue"])
		f.mu.Unlock()
	}
	fakeWrite(w, http.StatusOK, auditJSON(f.t, map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta,
		"items": append([]json.RawMessage{}, items[start:end]...)}))
}

func fakeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	data, _ := json.Marshal(&metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: message})
	fakeWrite(w, code, data)
}

func fakeWrite(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func auditJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func auditPodSpec(image string, privileged bool) corev1.PodSpec {
	c := corev1.Container{Name: "app", Image: image}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	return corev1.PodSpec{Containers: []corev1.Container{c}}
}

func auditPod(ns, name, image string, privileged bool, labels map[string]string, owner ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels, OwnerReferences: owner},
		Spec:       auditPodSpec(image, privileged)}
}

func controllerOf(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// auditDeployment returns a Deployment, its ReplicaSet and pods of it, each with a controller
// reference to the one above, as the controllers make them.
func auditDeployment(ns, name, image string, privileged bool, pods int) []metav1.Object {
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: auditPodSpec(image, privileged)}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec:       appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}
	rsName := name + "-5d8c9"
	rs := &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rsName, UID: types.UID("uid-" + rsName),
			OwnerReferences: []metav1.OwnerReference{controllerOf("apps/v1", "Deployment", name)}},
		Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}
	out := []metav1.Object{d, rs}
	for i := range pods {
		out = append(out, auditPod(ns, fmt.Sprintf("%s-x%d", rsName, i), image, privileged, tmpl.Labels,
			controllerOf("apps/v1", "ReplicaSet", rsName)))
	}
	return out
}

// auditWebhook is the configuration sealgate installs by default, so that stderr has no note.
func auditWebhook(t *testing.T) *admissionregistrationv1.ValidatingWebhookConfiguration {
	c, err := webhookconfig.Validating(webhookconfig.Options{Namespace: "sealgate-system", URL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func auditPolicy(name, mode, spec string) string {
	return fmt.Sprintf("apiVersion: sealgate.dev/v1alpha1\nkind: ClusterAdmissionPolicy\nmetadata: {name: %s}\nspec:\n  mode: %s\n  %s\n",
		name, mode, spec)
}

const (
	noPrivileged    = "containers: {privileged: Forbid}"
	noLatest        = "images: {disallowLatestTag: true}"
	auditImage      = "registry.example.com/app:1.0"
	auditPolicies   = "/apis/sealgate.dev/v1alpha1/clusteradmissionpolicies"
	auditExceptions = "/apis/sealgate.dev/v1alpha1/policyexceptions"
)

// auditOut is the part of `sealgate audit -o json` the tests read.
type auditOut struct {
	Results []struct {
		APIVersion, Kind, Namespace, Name, UID, Source string
		Policies                                       []string
		Pods                                           int
		Allowed                                        bool
		Violations                                     []struct{ Policy, Rule, Mode, Path, Object string }
	} `json:"results"`
	Summary struct {
		Objects, Pods, Denied, Warned, Audited, OutOfScope, Skipped int
		Namespaces                                                  []struct{ Namespace string }
	} `json:"summary"`
	SkippedObjects    int    `json:"skippedObjects"`
	SignaturesSkipped bool   `json:"signaturesSkipped"`
	AsEnforce         bool   `json:"asEnforce"`
	PolicySource      string `json:"policySource"`
	Scope             string `json:"scope"`
	Listed            int    `json:"listed"`
	APIRequests       int    `json:"apiRequests"`
}

// runAudit runs `sealgate audit --kubeconfig KUBECONFIG ARGS...`.
func runAudit(t *testing.T, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	return run(t, "", append([]string{"audit", "--kubeconfig", kubeconfig}, args...)...)
}

// runAuditJSON runs the audit with -o json and decodes its output.
func runAuditJSON(t *testing.T, kubeconfig string, wantCode int, args ...string) (*auditOut, string) {
	t.Helper()
	stdout, stderr, code := runAudit(t, kubeconfig, append([]string{"-o", "json"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr: %s", code, wantCode, stderr)
	}
	var out auditOut
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("decoding -o json: %v\n%s", err, stdout)
	}
	return &out, stderr
}

func resultNames(out *auditOut) []string {
	var names []string
	for _, r := range out.Results {
		names = append(names, r.Kind+" "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(names)
	return names
}
