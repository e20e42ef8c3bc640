package audit_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
)

// prodObjects is a namespace with every shape of ownership, controllers first and pods last:
//
//	Deployment web (privileged) → ReplicaSet web-abc → pods web-abc-1, web-abc-2 (as the template)
//	CronJob nightly (:latest) → Job nightly-1 → pod nightly-1-x
//	Rollout canary (argoproj.io, not listed) → ReplicaSet canary-rs (privileged, audited: its owner has no
//	template the audit reads) → pods canary-1, canary-2 (as the template)
//	Deployment api (clean) → ReplicaSet api-x → pods api-x-1, api-x-2 (privileged: mutated after admission)
//	ReplicaSet legacy (evil registry, no owner) → pod legacy-1
//	pods debug (privileged) and ok (clean), owned by nothing
func prodObjects(t testing.TB) []*audit.Object {
	const ns = "prod"
	rollout := metav1.OwnerReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary",
		UID: uid("Rollout", "canary"), Controller: ptr.To(true)}
	return objects(t,
		typedDeployment(ns, "web", spec(goodImage, true)),
		typedReplicaSet(ns, "web-abc", spec(goodImage, true), controller("apps/v1", "Deployment", "web")),
		typedCronJob(ns, "nightly", spec(latestImage, false)),
		typedJob(ns, "nightly-1", spec(latestImage, false), controller("batch/v1", "CronJob", "nightly")),
		typedReplicaSet(ns, "canary-rs", spec(goodImage, true), rollout),
		typedDeployment(ns, "api", spec(goodImage, false)),
		typedReplicaSet(ns, "api-x", spec(goodImage, false), controller("apps/v1", "Deployment", "api")),
		typedReplicaSet(ns, "legacy", spec(evilImage, false)),

		typedPod(ns, "web-abc-1", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "web-abc")),
		typedPod(ns, "web-abc-2", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "web-abc")),
		typedPod(ns, "nightly-1-x", spec(latestImage, false), controller("batch/v1", "Job", "nightly-1")),
		typedPod(ns, "debug", spec(goodImage, true)),
		typedPod(ns, "canary-1", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "canary-rs")),
		typedPod(ns, "canary-2", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "canary-rs")),
		typedPod(ns, "api-x-1", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "api-x")),
		typedPod(ns, "api-x-2", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "api-x")),
		typedPod(ns, "legacy-1", spec(evilImage, false), controller("apps/v1", "ReplicaSet", "legacy")),
		typedPod(ns, "ok", spec(goodImage, false)),
	)
}

const (
	privileged    = "deny-privileged/containers.privileged"
	latest        = "warn-latest/images.disallowLatestTag"
	registries    = "audit-registries/images.allowedRegistries"
	hostNamespace = "audit-registries/containers.hostNamespaces"
)

// prodEntries is what auditing prodObjects finds: each violating object once, under its top owner.
var prodEntries = []entryView{
	{Ref: "apps/v1 Deployment prod/web", UID: uid("Deployment", "web"), Pods: 2, Allowed: false,
		Findings: []string{"|" + privileged + "|spec.template.spec.containers[0].securityContext.privileged"}},
	{Ref: "batch/v1 CronJob prod/nightly", UID: uid("CronJob", "nightly"), Pods: 1, Allowed: true,
		Findings: []string{"|" + latest + "|spec.jobTemplate.spec.template.spec.containers[0].image"}},
	{Ref: "argoproj.io/v1alpha1 Rollout prod/canary", UID: uid("Rollout", "canary"), Pods: 2, Allowed: false,
		Findings: []string{"ReplicaSet/canary-rs|" + privileged + "|spec.template.spec.containers[0].securityContext.privileged"}},
	{Ref: "apps/v1 ReplicaSet prod/legacy", UID: uid("ReplicaSet", "legacy"), Pods: 1, Allowed: true,
		Findings: []string{"|" + registries + "|spec.template.spec.containers[0].image"}},
	{Ref: "v1 Pod prod/debug", UID: uid("Pod", "debug"), Pods: 1, Allowed: false,
		Findings: []string{"|" + privileged + "|spec.containers[0].securityContext.privileged"}},
	{Ref: "apps/v1 Deployment prod/api", UID: uid("Deployment", "api"), Pods: 2, Allowed: false,
		Findings: []string{"Pod/api-x-1|" + privileged + "|spec.containers[0].securityContext.privileged"}},
}

func TestGroupingUnderTopOwner(t *testing.T) {
	r, entries, s := run(t, newAuditor(threePolicies(t)), prodObjects(t))
	if diff := cmp.Diff(prodEntries, view(entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// web, nightly, canary, api, legacy, debug and ok; the ReplicaSets and the Job under them are not
	// objects of their own.
	if s.Objects != 7 || s.Pods != 10 {
		t.Errorf("summary counts %d objects and %d pods, want 7 and 10", s.Objects, s.Pods)
	}
	// The clean Deployment api is not clean: its pods violate.
	ns := r.Namespaces["prod"]
	var clean []string
	for _, c := range ns.Clean {
		clean = append(clean, c.Kind+"/"+c.Name)
		if c.Pods != 1 || len(c.Policies) != 3 {
			t.Errorf("clean %s/%s: %d pods, policies %v; want 1 and all three", c.Kind, c.Name, c.Pods, c.Policies)
		}
	}
	if diff := cmp.Diff([]string{"Pod/ok"}, clean); diff != "" {
		t.Errorf("clean objects (-want +got):\n%s", diff)
	}
}

// TestPodFindingsNotRepeated: pods that are as their template add nothing, and pods that differ
// from it in the same way are listed once, whatever rule is at work.
func TestPodFindingsNotRepeated(t *testing.T) {
	everything := compile(t, "everything", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit,
		Images:      &v1alpha1.ImageRules{AllowedRegistries: []string{"registry.example.com/**"}, RequireDigest: true, DisallowLatestTag: true},
		PodSecurity: &v1alpha1.PodSecurity{Level: "restricted", Version: "latest"},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden, RunAsRoot: v1alpha1.Forbidden,
			AllowPrivilegeEscalation: v1alpha1.Forbidden, HostNamespaces: v1alpha1.Forbidden, ReadOnlyRootFilesystem: v1alpha1.Required,
			Capabilities: &v1alpha1.CapabilityRules{RequireDropAll: true}},
		Resources: &v1alpha1.ResourceRules{RequireRequests: []corev1.ResourceName{"cpu", "memory"}, RequireLimits: []corev1.ResourceName{"memory"},
			MaxLimits: map[corev1.ResourceName]resource.Quantity{"memory": resource.MustParse("512Mi")}},
	})
	tmpl := richTemplate("Deployment").Spec
	var objs []runtime.Object
	objs = append(objs, typedDeployment("prod", "web", tmpl),
		typedReplicaSet("prod", "web-abc", tmpl, controller("apps/v1", "Deployment", "web")))
	for _, name := range []string{"web-abc-1", "web-abc-2", "web-abc-3"} {
		objs = append(objs, typedPod("prod", name, tmpl, controller("apps/v1", "ReplicaSet", "web-abc")))
	}
	_, entries, _ := run(t, newAuditor([]*policy.Policy{everything}), objects(t, objs...))
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1: %v", len(entries), view(entries))
	}
	e := entries[0]
	if e.Kind != "Deployment" || e.Pods != 3 || len(e.Violations) < 10 {
		t.Fatalf("entry = %+v", view(entries))
	}
	for _, f := range e.Violations {
		if f.Object != "" {
			t.Errorf("pod %s repeats what its template shows: %s", f.Object, f.Violation)
		}
	}
}

// TestKinds: spec.match.kinds is matched against each object's own kind, in the audit as in
// admission. [Deployment] judges the Deployments' templates and none of their pods (a pod mutated
// after admission goes unseen); [Pod] judges every pod, reported under its top owner, and no
// template (nor the ReplicaSet canary-rs, which is audited as itself).
func TestKinds(t *testing.T) {
	limited := func(kinds ...string) []*policy.Policy {
		return []*policy.Policy{compile(t, "deny-privileged", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
			Match: v1alpha1.Match{Kinds: kinds}, Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}})}
	}
	_, entries, _ := run(t, newAuditor(limited("Deployment")), prodObjects(t))
	want := []entryView{
		{Ref: "apps/v1 Deployment prod/web", UID: uid("Deployment", "web"), Pods: 2, Allowed: false,
			Findings: []string{"|" + privileged + "|spec.template.spec.containers[0].securityContext.privileged"}},
	}
	if diff := cmp.Diff(want, view(entries)); diff != "" {
		t.Errorf("kinds [Deployment]: entries (-want +got):\n%s", diff)
	}

	_, entries, _ = run(t, newAuditor(limited("Pod")), prodObjects(t))
	var got []string
	for _, e := range view(entries) {
		got = append(got, e.Ref+" "+strings.Join(e.Findings, " "))
	}
	const field = "|" + privileged + "|spec.containers[0].securityContext.privileged"
	// The second pod of each owner says what the first said, so it is not listed again.
	want2 := []string{
		"apps/v1 Deployment prod/web Pod/web-abc-1" + field,
		"v1 Pod prod/debug " + field,
		"argoproj.io/v1alpha1 Rollout prod/canary Pod/canary-1" + field,
		"apps/v1 Deployment prod/api Pod/api-x-1" + field,
	}
	if diff := cmp.Diff(want2, got); diff != "" {
		t.Errorf("kinds [Pod]: entries (-want +got):\n%s", diff)
	}
}

// TestOwnerCycles: owner references that loop (which the API server does not prevent) end the walk.
func TestOwnerCycles(t *testing.T) {
	objs := objects(t,
		typedReplicaSet("prod", "a", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "b")),
		typedReplicaSet("prod", "b", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "a")),
		typedReplicaSet("prod", "self", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "self")),
		typedPod("prod", "a-1", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "a")),
		typedPod("prod", "self-1", spec(goodImage, true), controller("apps/v1", "ReplicaSet", "self")),
	)
	done := make(chan []*audit.Entry, 1)
	go func() {
		_, entries, _ := run(t, newAuditor(threePolicies(t)), objs)
		done <- entries
	}()
	var entries []*audit.Entry
	select {
	case entries = <-done:
	case <-time.After(30 * time.Second): // a hang detector, not a timing
		t.Fatal("the audit does not return on an owner-reference cycle")
	}
	var refs []string
	for _, e := range entries {
		refs = append(refs, e.Kind+"/"+e.Name)
		if e.Pods != 1 || len(e.Violations) != 1 {
			t.Errorf("%s/%s: %d pods, %d violations; want 1 and 1", e.Kind, e.Name, e.Pods, len(e.Violations))
		}
	}
	if len(refs) != 2 || !slices.Contains(refs, "ReplicaSet/self") || (!slices.Contains(refs, "ReplicaSet/a") && !slices.Contains(refs, "ReplicaSet/b")) {
		t.Errorf("entries = %v, want ReplicaSet/self and one of ReplicaSet/a, ReplicaSet/b", refs)
	}
}

// TestAddNamespaceInAnyOrder: AddNamespace gets a namespace's objects at once, from an informer's
// index, whose order is a map's. The grouping must not depend on it.
func TestAddNamespaceInAnyOrder(t *testing.T) {
	a := newAuditor(threePolicies(t))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		objs := prodObjects(t)
		if i > 0 {
			rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
		}
		r := audit.NewResult()
		a.AddNamespace(context.Background(), r, "prod", objs)
		entries, _ := r.Finish()
		if diff := cmp.Diff(prodEntries, view(entries), sortViews); diff != "" {
			var order []string
			for _, o := range objs {
				order = append(order, o.Kind+"/"+o.Name)
			}
			t.Fatalf("entries with objects in the order %v (-want +got):\n%s", order, diff)
		}
	}
}

// sortViews compares entries whatever their order.
var sortViews = cmp.Transformer("sort", func(in []entryView) []entryView {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b entryView) int { return cmpString(a.Ref, b.Ref) })
	return out
})

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestAddNamespaceReplaces: the background audit recomputes one namespace at a time; the result
// holds the latest objects of that namespace only, and the other namespaces as they were.
func TestAddNamespaceReplaces(t *testing.T) {
	a := newAuditor(threePolicies(t))
	r := audit.NewResult()
	ctx := context.Background()
	a.AddNamespace(ctx, r, "prod", prodObjects(t))
	a.AddNamespace(ctx, r, "dev", objects(t, typedPod("dev", "p", spec(goodImage, true))))
	a.AddNamespace(ctx, r, "prod", objects(t, typedPod("prod", "debug", spec(goodImage, true))))
	entries, s := r.Finish()
	want := []entryView{
		{Ref: "v1 Pod dev/p", UID: uid("Pod", "p"), Pods: 1, Findings: []string{"|" + privileged + "|spec.containers[0].securityContext.privileged"}},
		{Ref: "v1 Pod prod/debug", UID: uid("Pod", "debug"), Pods: 1, Findings: []string{"|" + privileged + "|spec.containers[0].securityContext.privileged"}},
	}
	if diff := cmp.Diff(want, view(entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if s.Objects != 2 || s.Pods != 2 || s.Denied != 2 {
		t.Errorf("summary = %d objects, %d pods, %d denied; want 2, 2, 2", s.Objects, s.Pods, s.Denied)
	}
	// Finish again, as a background audit does after each namespace: the same answer.
	entries2, s2 := r.Finish()
	if diff := cmp.Diff(view(entries), view(entries2)); diff != "" {
		t.Errorf("second Finish changed the entries (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(s, s2); diff != "" {
		t.Errorf("second Finish changed the summary (-first +second):\n%s", diff)
	}
}

func TestAsEnforce(t *testing.T) {
	in := threePolicies(t)
	out := audit.AsEnforce(in)
	if len(out) != len(in) {
		t.Fatalf("AsEnforce returned %d policies, want %d", len(out), len(in))
	}
	wantIn := []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeWarn, v1alpha1.ModeAudit}
	for i := range in {
		if in[i].Mode != wantIn[i] || in[i].Source.Spec.Mode != wantIn[i] {
			t.Errorf("input policy %s mode changed to %s (source %s)", in[i].Name, in[i].Mode, in[i].Source.Spec.Mode)
		}
		if out[i].Mode != v1alpha1.ModeEnforce || out[i].Name != in[i].Name || out[i].Source != in[i].Source {
			t.Errorf("AsEnforce policy %d = %s %s, want %s in Enforce with the same rules", i, out[i].Name, out[i].Mode, in[i].Name)
		}
	}

	// Evaluated as Enforce, everything that violates counts as denied.
	_, _, s := run(t, newAuditor(in), prodObjects(t))
	_, _, se := run(t, newAuditor(out), prodObjects(t))
	if s.Denied != 4 || s.Warned != 1 || s.Audited != 1 {
		t.Errorf("as installed: denied %d, warned %d, audited %d; want 4, 1, 1", s.Denied, s.Warned, s.Audited)
	}
	if se.Denied != 6 || se.Warned != 0 || se.Audited != 0 {
		t.Errorf("as enforced: denied %d, warned %d, audited %d; want 6, 0, 0", se.Denied, se.Warned, se.Audited)
	}
}

// TestAuditorConcurrentUse: one Auditor, a Result per goroutine (run with -race).
func TestAuditorConcurrentUse(t *testing.T) {
	a := newAuditor(threePolicies(t))
	objs := prodObjects(t)
	done := make(chan []entryView)
	for range 4 {
		go func() {
			r := audit.NewResult()
			a.AddNamespace(context.Background(), r, "prod", objs)
			entries, _ := r.Finish()
			done <- view(entries)
		}()
	}
	for range 4 {
		if diff := cmp.Diff(prodEntries, <-done, sortViews); diff != "" {
			t.Errorf("concurrent audit (-want +got):\n%s", diff)
		}
	}
}
