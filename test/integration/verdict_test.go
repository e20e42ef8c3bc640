//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealgate/sealgate/pkg/workload"
	"github.com/sealgate/sealgate/test/cluster"
)

// TestCheckAgreesWithClusterOnPSSFixtures: every distinct upstream PSS fixture pod, wrapped in every
// pod-bearing kind, gets from `sealgate check` offline the verdict the API server gives with
// sealgate's webhook (dryRun=All create), at the baseline and the restricted level. The fixtures
// are written for the API server, which defaults them before admission: a volume with no source
// (the pass fixture restrictedvolumes0) is denied offline unless check applies that default.
func TestCheckAgreesWithClusterOnPSSFixtures(t *testing.T) {
	fixtures := pssFixtures(t)
	var policies strings.Builder
	var nsObjs, objs []map[string]any
	for _, level := range []string{"baseline", "restricted"} {
		name := "verdict-" + level
		ns := namespace(t, name, nil)
		nsObjs = append(nsObjs, namespaceObject(ns, map[string]any{"int-test": name}))
		spec := fmt.Sprintf(`{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, podSecurity: {level: %s, version: latest}}`, name, level)
		applyPolicy(t, "int-"+name, spec)
		policies.WriteString("---\n" + policyYAML("int-"+name, spec))
		for i, fx := range fixtures {
			for _, k := range workload.Kinds {
				objs = append(objs, wrap(k, fx, ns, fmt.Sprintf("f%d-%s", i, strings.ToLower(k.GVK.Kind))))
			}
		}
	}
	want, why := clusterVerdictsWhy(t, objs)
	got, _ := checkVerdicts(t, policies.String(), append(nsObjs, objs...))

	newest := newestVersion(fixtures)
	counts := map[verdict]int{}
	invalidWhy := map[string]string{}
	var noSource, layout int
	for j, o := range objs {
		id := objectID(o)
		fx := fixtures[(j/len(workload.Kinds))%len(fixtures)]
		level := "baseline"
		if strings.Contains(id, "/int-verdict-restricted/") {
			level = "restricted"
		}
		counts[want[id]]++
		switch {
		case want[id] == invalid:
			// Upstream writes a few fail fixtures the API server's validation rejects before any
			// webhook is asked (procMount Unmasked with hostUsers true): the cluster does not admit
			// them, and check, which does not validate, must deny them.
			if _, ok := invalidWhy[fx.Files[0]]; !ok {
				invalidWhy[fx.Files[0]] = why[id]
			}
			if got[id] != denied {
				t.Errorf("%s (%s): the API server rejects it as invalid; check says %s", id, fx.Files[0], got[id])
			}
		case got[id] != want[id]:
			t.Errorf("%s (%s): check says %s, the cluster %s", id, fx.Files[0], got[id], want[id])
		}
		// The cluster's own verdict is upstream's, where upstream gives one at the latest version:
		// the comparison runs against the right policies.
		if exp := expectVerdict(&fx, level, newest); exp != "" {
			layout++
			if v := want[id]; v != exp && (v != invalid || exp != denied) {
				t.Errorf("%s (%s): the cluster says %s at %s latest, upstream %s", id, strings.Join(fx.Files, ", "), v, level, exp)
			}
		}
		if level == "restricted" && hasSourcelessVolume(fx.Pod) && expectVerdict(&fx, level, newest) == admitted {
			noSource++
		}
	}
	for f, w := range invalidWhy {
		t.Logf("invalid in every kind: %s: %s", f, w)
	}
	// The comparison means something only if both verdicts occur, and restrictedvolumes0 (the pass
	// fixture with a sourceless volume) is among the objects.
	if counts[admitted] < 500 || counts[denied] < 500 || layout < 500 || noSource < len(workload.Kinds) {
		t.Fatalf("too few cases: %v, %d with upstream's verdict, %d admitted with a sourceless volume", counts, layout, noSource)
	}
	t.Logf("%d distinct fixtures x %d kinds x 2 levels: %v; %d with upstream's verdict at latest; %d admitted with a sourceless volume",
		len(fixtures), len(workload.Kinds), counts, layout, noSource)
}

func hasSourcelessVolume(pod map[string]any) bool {
	spec, _ := pod["spec"].(map[string]any)
	vols, _ := spec["volumes"].([]any)
	for _, v := range vols {
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["name"] != nil {
			return true
		}
	}
	return false
}

// TestCheckExcludesWhatTheWebhookExcludes: the webhook configuration excludes kube-system and
// sealgate's namespace, so the cluster admits a privileged pod there that a policy for every
// namespace forbids. check reports such objects as excluded, not admitted or denied, and evaluates
// them with --include-excluded.
func TestCheckExcludesWhatTheWebhookExcludes(t *testing.T) {
	control := namespace(t, "verdict-excl", nil)
	spec := fmt.Sprintf(`{mode: Enforce, match: {namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [kube-system, %s, %s]}]}}, containers: {privileged: Forbid}}`,
		cluster.Namespace, control)
	applyPolicy(t, "int-verdict-excl", spec)
	var objs []map[string]any
	for _, ns := range []string{"kube-system", cluster.Namespace, control} {
		objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "priv", "namespace": ns},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox:1.37", "securityContext": map[string]any{"privileged": true}}}}})
	}
	want := clusterVerdicts(t, objs)
	policies := policyYAML("int-verdict-excl", spec)
	got, raw := checkVerdicts(t, policies, objs, "--sealgate-namespace", cluster.Namespace)
	for _, o := range objs {
		id := objectID(o)
		excluded := !strings.Contains(id, control)
		switch {
		case excluded && want[id] != admitted:
			t.Errorf("%s: the cluster says %s; the webhook should never see it", id, want[id])
		case excluded && got[id] != "":
			t.Errorf("%s: check evaluated it (%s); it is in an excluded namespace", id, got[id])
		case !excluded && (want[id] != denied || got[id] != denied):
			t.Errorf("%s: cluster %s, check %s; want both denied", id, want[id], got[id])
		}
	}
	if ex, _ := raw["excluded"].([]any); len(ex) != 2 {
		t.Errorf("check lists %d excluded objects, want 2: %v", len(ex), raw["excluded"])
	}
	all, _ := checkVerdicts(t, policies, objs, "--sealgate-namespace", cluster.Namespace, "--include-excluded")
	for _, o := range objs {
		if id := objectID(o); all[id] != denied {
			t.Errorf("%s with --include-excluded: check says %q, want denied", id, all[id])
		}
	}
}

// TestCheckUpdateAgreesWithCluster: a privileged Deployment created before the policy that forbids
// it can still be scaled (the webhook skips an UPDATE that leaves the pod spec as it was), but not
// changed. check --operation UPDATE --old gives both verdicts as the cluster does; without --old it
// denies the scale, as a CREATE.
func TestCheckUpdateAgreesWithCluster(t *testing.T) {
	ns := namespace(t, "verdict-update", nil)
	deploy := func(replicas int64, image string) map[string]any {
		return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": ns},
			"spec": map[string]any{"replicas": replicas, "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": image, "securityContext": map[string]any{"privileged": true}}},
						"volumes": []any{map[string]any{"name": "scratch"}}}}}}
	}
	old := deploy(1, "busybox:1.37")
	if err := env.Client.Create(t.Context(), &unstructured.Unstructured{Object: deepCopy(old).(map[string]any)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "deployment", "-n", ns, "web", "--ignore-not-found")
	})
	const spec = `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: verdict-update}}}, containers: {privileged: Forbid}}`
	applyPolicy(t, "int-verdict-update", spec)
	policies := policyYAML("int-verdict-update", spec)
	oldFile := filepath.Join(t.TempDir(), "old.yaml")
	writeManifests(t, oldFile, []map[string]any{old})

	for _, tc := range []struct {
		name string
		new  map[string]any
		want verdict
	}{
		{"scale", deploy(3, "busybox:1.37"), admitted},
		{"new image", deploy(1, "busybox:1.36"), denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := &unstructured.Unstructured{}
			cur.SetAPIVersion("apps/v1")
			cur.SetKind("Deployment")
			if err := env.Client.Get(t.Context(), clientKey(ns, "web"), cur); err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: deepCopy(tc.new).(map[string]any)}
			u.SetResourceVersion(cur.GetResourceVersion())
			cv, err := updateVerdict(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			if cv != tc.want {
				t.Fatalf("the cluster says %s, want %s", cv, tc.want)
			}
			input := []map[string]any{namespaceObject(ns, map[string]any{"int-test": "verdict-update"}), tc.new}
			got, raw := checkVerdicts(t, policies, input, "--operation", "UPDATE", "--old", oldFile)
			if id := objectID(tc.new); got[id] != cv {
				t.Errorf("check --operation UPDATE says %s, the cluster %s\n%v", got[id], cv, raw)
			}
			if create, _ := checkVerdicts(t, policies, input); create[objectID(tc.new)] != denied {
				t.Errorf("check as CREATE says %s, want denied", create[objectID(tc.new)])
			}
		})
	}
}

// TestCheckAppliesPodDefaultsToPodsOnly: the API server gives a hostNetwork Pod's container port
// its containerPort as hostPort, and does not do so in pod templates. With the hostNamespaces
// check waived, the cluster denies the Pod for its host port and admits the Deployment; check
// must say the same, so it applies that default to Pods and only to Pods.
func TestCheckAppliesPodDefaultsToPodsOnly(t *testing.T) {
	ns := namespace(t, "verdict-hostnet", nil)
	const policy = "int-verdict-hostnet"
	spec := `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: verdict-hostnet}}}, podSecurity: {level: baseline, version: latest}}`
	applyPolicy(t, policy, spec)
	exception := `{reason: "the agent shares the host network", policies: [{name: ` + policy + `, rules: [podSecurity.hostNamespaces]}],
  match: {namespaces: [` + ns + `], kinds: [Pod, Deployment], names: [agent]}}`
	applyException(t, cluster.Namespace, "verdict-hostnet", exception)
	waitException(t, cluster.Namespace, "verdict-hostnet", "True", "InForce")

	podSpec := map[string]any{"hostNetwork": true, "containers": []any{map[string]any{"name": "agent", "image": "busybox:1.37",
		"ports": []any{map[string]any{"containerPort": int64(9100)}}}}}
	fx := pssFixture{Pod: map[string]any{"metadata": map[string]any{}, "spec": podSpec}}
	var objs []map[string]any
	for _, kind := range []string{"Pod", "Deployment"} {
		k, _ := workload.KindNamed(kind)
		objs = append(objs, wrap(k, fx, ns, "agent"))
	}
	want := clusterVerdicts(t, objs)
	if want["Pod/"+ns+"/agent"] != denied || want["Deployment/"+ns+"/agent"] != admitted {
		t.Fatalf("the cluster's verdicts are not the ones this test is about: %v", want)
	}
	dir := t.TempDir()
	excFile := filepath.Join(dir, "exception.yaml")
	if err := os.WriteFile(excFile, []byte(exceptionYAML(cluster.Namespace, "verdict-hostnet", exception)), 0o600); err != nil {
		t.Fatal(err)
	}
	input := append([]map[string]any{namespaceObject(ns, map[string]any{"int-test": "verdict-hostnet"})}, objs...)
	got, raw := checkVerdicts(t, policyYAML(policy, spec), input, "--exceptions", excFile)
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%s: check says %s, the cluster %s\n%v", id, got[id], v, raw)
		}
	}
}
