//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
	"github.com/sealgate/sealgate/test/cluster"
)

// vapPolicy is one distinct fixture policy: its namespace, its compiled objects and the kind of
// agreement its verdicts owe the webhook's.
type vapPolicy struct {
	name string
	spec v1alpha1.PolicySpec
	res  *vap.Result
	// conservative: a compiled rule may deny more than the webhook; uncompiled: a rule the
	// policy enables is left to the webhook, so the VAP may admit what the webhook denies.
	conservative, uncompiled bool
}

// TestVAPAgreesWithWebhookOnRuleFixtures is the proof by difference of issue 12 on the rule
// fixtures and the examples: every case of a rule that compiles to CEL, and every example workload
// under the rules of every example policy, each under its own policy in its own namespace, is created (dryRun) through the real API server twice: with sealgate's webhook
// alone, and with only the generated ValidatingAdmissionPolicies (the webhook configuration
// deleted). A policy whose compiled rules are all exact must get the same verdict; one with a
// conservative rule must never be admitted by the VAP where the webhook denies; one that leaves a
// rule to the webhook must never be denied by the VAP where the webhook admits, unless a compiled
// rule is conservative. It prints the agreement, and the API server's word on storing the policies.
func TestVAPAgreesWithWebhookOnRuleFixtures(t *testing.T) {
	files, err := fixture.LoadDir(filepath.Join(cluster.Root(), "pkg", "rules", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	compiled := map[string]bool{}
	for _, r := range rules.Default().Rules() {
		compiled[r.ID] = r.CEL != nil
	}
	index := map[string]int{}
	var pols []*vapPolicy
	var objs []map[string]any
	polOf, source := map[string]*vapPolicy{}, map[string]string{}
	// add is one case: the object under the policy's rules, in a namespace of its own policy.
	add := func(pol v1alpha1.PolicySpec, object []byte, src string) {
		pj, err := json.Marshal(pol)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := index[string(pj)]
		if !ok {
			i = len(pols)
			index[string(pj)] = i
			label := fmt.Sprintf("vd-%d", i)
			namespace(t, label, nil)
			spec := *pol.DeepCopy()
			spec.Match.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"int-test": label}}
			vp := &vapPolicy{name: "int-" + label, spec: spec, res: compileCAP(t, "int-"+label, spec)}
			for _, st := range vp.res.Rules {
				vp.conservative = vp.conservative || st.State == vap.Conservative
				vp.uncompiled = vp.uncompiled || st.State == vap.NotCompiled
			}
			pols = append(pols, vp)
		}
		var obj map[string]any
		if err := json.Unmarshal(object, &obj); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			obj["metadata"] = meta
		}
		meta["namespace"] = pols[i].name // the namespace is named as the policy
		meta["name"] = fmt.Sprintf("c%d", len(objs))
		delete(meta, "generateName")
		polOf[objectID(obj)], source[objectID(obj)] = pols[i], src
		objs = append(objs, obj)
	}
	for _, f := range files {
		if !compiled[f.Rule] {
			continue
		}
		for _, c := range f.Cases {
			if c.Policy.Match.NamespaceSelector != nil || len(c.ImageConfigs) > 0 {
				continue
			}
			add(c.Policy, c.Object, f.Rule+": "+c.Name)
		}
	}
	// The examples: every example workload under the rules of every example policy (their match is
	// the test's own, as for the fixtures).
	examplePolicies, err := policy.LoadPaths([]string{filepath.Join(cluster.Root(), "examples", "policies")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs, _, err := manifest.ReadPaths([]string{filepath.Join(cluster.Root(), "examples", "workloads")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, d := range docs {
		if _, ok := workload.Lookup(schema.FromAPIVersionAndKind(d.APIVersion, d.Kind)); !ok {
			continue
		}
		for _, ep := range examplePolicies {
			spec := *ep.Source.Spec.DeepCopy()
			spec.Match = v1alpha1.Match{Kinds: spec.Match.Kinds}
			add(spec, d.JSON, "example "+ep.Name+": "+filepath.Base(d.Source))
			examples++
		}
	}
	if examples == 0 {
		t.Fatal("no example workload read")
	}

	// The probes: a privileged pod, denied by a policy of the webhook in one namespace and by a
	// generated VAP in another.
	const probeSpec = `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, containers: {privileged: Forbid}}`
	whProbeNS, vapProbeNS := namespace(t, "vd-whprobe", nil), namespace(t, "vd-vapprobe", nil)
	applyPolicy(t, "int-vd-whprobe", fmt.Sprintf(probeSpec, "vd-whprobe"))
	whProbe, vapProbe := privilegedPod(whProbeNS), privilegedPod(vapProbeNS)

	// Run 1: the webhook alone.
	for _, vp := range pols {
		u := &unstructured.Unstructured{}
		sj, _ := json.Marshal(vp.spec)
		if err := yaml.Unmarshal([]byte(policyYAML(vp.name, string(sj))), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(t.Context(), u); err != nil {
			t.Fatalf("creating policy %s: %v", vp.name, err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	}
	for _, vp := range pols {
		waitPolicyReady(t, vp.name)
	}
	waitProbe(t, whProbe, denied, "the webhook denies its probe")
	webhook, webhookWhy := vapVerdicts(t, objs)

	// Run 2: the generated VAPs alone. The VAP probe's objects are created last: the API server
	// compiles policies and bindings from its informers' caches together, so once it enforces the
	// probe it has every policy created before it.
	withoutWebhook(t, whProbe)
	wc, warnings := warningClient(t)
	stored := map[string][]string{}
	largest := pols[0]
	for _, vp := range pols {
		if vp.res.Policy == nil {
			continue
		}
		if w := applyVAP(t, wc, warnings, vp.res); len(w) > 0 {
			stored[vp.res.Policy.Name] = w
		}
		if size(vp.res) > size(largest.res) {
			largest = vp
		}
	}
	probeRes := compileCAP(t, "int-vd-vapprobe", mustSpec(t, fmt.Sprintf(probeSpec, "vd-vapprobe")))
	applyVAP(t, wc, warnings, probeRes)
	waitProbe(t, vapProbe, vapDenied, "the generated VAPs are enforced")
	viaVAP, vapWhy := vapVerdicts(t, objs)

	var exact, exactAgree, cons, consAgree, overDenials, leftToWebhook, invalids int
	counts := map[verdict]int{}
	for _, o := range objs {
		id, vp := objectID(o), polOf[objectID(o)]
		w, v := webhook[id], viaVAP[id]
		counts["webhook "+w]++
		counts["VAP "+v]++
		why := fmt.Sprintf("%s (%s): webhook %s %q, VAP %s %q", id, source[id], w, webhookWhy[id], v, vapWhy[id])
		switch {
		case v == denied:
			t.Errorf("%s: sealgate's webhook answered with its configuration deleted", why)
		case w == invalid || v == invalid:
			invalids++
			if w != v {
				t.Errorf("%s: the API server's validation differs between the runs", why)
			}
		case vp.res.Policy == nil:
			if v != admitted {
				t.Errorf("%s: nothing compiled, yet not admitted", why)
			}
			leftToWebhook++
		case vp.uncompiled:
			// The webhook may deny for a rule the VAP leaves to it; the VAP may deny only where
			// the webhook does, unless a compiled rule is conservative.
			leftToWebhook++
			if v == vapDenied && w != denied && !vp.conservative {
				t.Errorf("%s: an exact rule denies what the webhook admits", why)
			}
		case vp.conservative:
			cons++
			if (w == denied) == (v == vapDenied) {
				consAgree++
			}
			switch {
			case w == denied && v != vapDenied:
				t.Errorf("%s: under-denial by a conservative rule", why)
			case w != denied && v == vapDenied:
				overDenials++
			}
		default:
			exact++
			if (w == denied) == (v == vapDenied) {
				exactAgree++
			} else {
				t.Errorf("%s: exact rules disagree", why)
			}
		}
	}
	if exact < 50 || counts["webhook denied"] < 50 || counts["VAP vap-denied"] < 50 {
		t.Fatalf("too few cases: %d under exactly compiled policies; verdicts %v", exact, counts)
	}
	t.Logf("VAP vs webhook through the API server, %d rule fixture and example cases under %d policies: exact %d/%d agree (%.1f%%); "+
		"conservative %d/%d agree, %d over-denials, %d under-denials; %d under policies with uncompiled rules; %d invalid in both runs; verdicts %v",
		len(objs), len(pols), exactAgree, exact, 100*float64(exactAgree)/float64(exact), consAgree, cons, overDenials,
		cons-consAgree-overDenials, leftToWebhook, invalids, counts)
	for name, w := range stored {
		t.Logf("storing %s, the API server warned: %q", name, w)
	}
	t.Logf("largest policy %s: %d validations, %d bytes of CEL; status %s", largest.res.Policy.Name, len(largest.res.Policy.Spec.Validations),
		size(largest.res), vapStatus(t, largest.res.Policy.Name))
	for _, m := range apiServerMetrics(t, "apiserver_validating_admission_policy_check") {
		if strings.Contains(m, `policy="`+largest.res.Policy.Name+`"`) && !strings.Contains(m, "_bucket") {
			t.Logf("metric: %s", m)
		}
	}
}

// size is the length of a compiled policy's CEL: its variables, validations and messages.
func size(r *vap.Result) int {
	if r.Policy == nil {
		return 0
	}
	n := 0
	for _, v := range r.Policy.Spec.Variables {
		n += len(v.Expression)
	}
	for _, v := range r.Policy.Spec.Validations {
		n += len(v.Expression) + len(v.MessageExpression)
	}
	return n
}

func mustSpec(t *testing.T, spec string) v1alpha1.PolicySpec {
	t.Helper()
	var s v1alpha1.PolicySpec
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func privilegedPod(ns string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "probe", "namespace": ns},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox:1.37",
			"securityContext": map[string]any{"privileged": true}}}}}
}

// TestVAPDeniesWithoutWebhook: with sealgate's webhook configuration deleted, `kubectl apply` of a
// privileged pod is still denied by the policy's generated VAP, and the message names the field,
// the fix, and the policy and rule.
func TestVAPDeniesWithoutWebhook(t *testing.T) {
	const spec = `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, containers: {privileged: Forbid}}`
	ns, whProbeNS := namespace(t, "vd-outage", nil), namespace(t, "vd-outage-whprobe", nil)
	applyPolicy(t, "int-vd-outage", fmt.Sprintf(spec, "vd-outage"))
	applyPolicy(t, "int-vd-outage-whprobe", fmt.Sprintf(spec, "vd-outage-whprobe"))
	res := compileCAP(t, "int-vd-outage", mustSpec(t, fmt.Sprintf(spec, "vd-outage")))
	wc, warnings := warningClient(t)
	applyVAP(t, wc, warnings, res)
	withoutWebhook(t, privilegedPod(whProbeNS))
	waitProbe(t, privilegedPod(ns), vapDenied, "the generated VAP is enforced")

	r := kubectl(t, pod(ns, "priv", privileged), "apply", "-f", "-")
	if r.Err == nil {
		_, _, _ = env.Kubectl(context.Background(), "", "delete", "pod", "-n", ns, "priv", "--ignore-not-found")
		t.Fatalf("kubectl apply of a privileged pod succeeded without the webhook: %s", r)
	}
	for _, want := range []string{"ValidatingAdmissionPolicy '" + res.Policy.Name + "'", "spec.containers[0].securityContext.privileged",
		"[int-vd-outage/containers.privileged]", "Error from server (Forbidden)"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl's error does not name %q:\n%s", want, r.Stderr)
		}
	}
	t.Logf("kubectl apply without the webhook: %s", strings.TrimSpace(r.Stderr))
	if r := kubectl(t, pod(ns, "plain", ""), "apply", "-f", "-", "--dry-run=server"); r.Err != nil {
		t.Errorf("a pod the policy allows is refused: %s", r)
	}
}

// TestVAPAdmitsUpdatesThatKeepThePodSpec: a pod that predates the policy can still be relabelled
// and have its finalizers changed under the generated VAP, as the webhook allows (an UPDATE that
// leaves the pod spec and annotations as they were is not judged), so its deletion never wedges;
// an UPDATE that changes the spec is judged.
func TestVAPAdmitsUpdatesThatKeepThePodSpec(t *testing.T) {
	const spec = `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, containers: {privileged: Forbid}}`
	ns := namespace(t, "vd-update", nil)
	old := &unstructured.Unstructured{Object: privilegedPod(ns)}
	old.SetName("predates")
	old.SetFinalizers([]string{"example.com/hold"})
	if err := env.Client.Create(t.Context(), old); err != nil {
		t.Fatalf("creating the pod before the policy: %v", err)
	}
	// Only the VAP is applied, not the policy: sealgate's webhook has no policy for this namespace.
	wc, warnings := warningClient(t)
	applyVAP(t, wc, warnings, compileCAP(t, "int-vd-update", mustSpec(t, fmt.Sprintf(spec, "vd-update"))))
	waitProbe(t, privilegedPod(ns), vapDenied, "the generated VAP is enforced")

	get := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(old.GroupVersionKind())
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(old), u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	u := get()
	u.SetLabels(map[string]string{"relabelled": "yes"})
	if err := env.Client.Update(t.Context(), u); err != nil {
		t.Errorf("relabelling a pod that predates the policy: %v", err)
	}
	u = get()
	u.SetFinalizers(nil)
	if err := env.Client.Update(t.Context(), u, client.DryRunAll); err != nil {
		t.Errorf("removing the finalizer of a pod that predates the policy: %v", err)
	}
	u = get()
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "containers")
	cs[0].(map[string]any)["image"] = "busybox:1.36" // a pod's images may change
	if err := unstructured.SetNestedSlice(u.Object, cs, "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	err := env.Client.Update(t.Context(), u, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+vap.Name("int-vd-update")+"'") {
		t.Errorf("an UPDATE that changes the spec of a privileged pod is not denied by the VAP: %v", err)
	}
	u = get()
	u.SetFinalizers(nil)
	if err := env.Client.Update(context.Background(), u); err != nil {
		t.Errorf("removing the finalizer: %v", err)
	}
}
