package vap_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/vap"
)

// The API server charges CEL by cost units: each expression stops at celconfig.PerCallLimit, and
// the expressions of one binding, validations and message expressions together, stop at
// celconfig.RuntimeCELCostBudget; either way the request fails, and with failurePolicy Fail it is
// denied. The cost grows with the pod (containers, volumes, ports) and with the policy (patterns,
// ranges). The cost tests measure it with the plugin's own validator: the least budget at which the
// policy still decides is what the API server charges.

// largestPolicy enables every rule that compiles, with lists at the sizes a large organisation
// writes (the CRD bounds them further).
const largestPolicy = `
mode: Enforce
match: {excludeNamespaces: [kube-system]}
images:
  allowedRegistries: [%s]
  deniedRegistries: [%s]
  disallowLatestTag: true
  requireDigest: true
podSecurity: {level: restricted, version: latest}
containers:
  privileged: Forbid
  runAsRoot: Forbid
  allowPrivilegeEscalation: Forbid
  hostNamespaces: Forbid
  readOnlyRootFilesystem: Require
  automountServiceAccountToken: Forbid
  capabilities: {requireDropAll: true, allowedAdd: [NET_BIND_SERVICE, CHOWN, SETUID, SETGID], requiredDrop: [NET_RAW, SYS_ADMIN]}
  allowedHostPorts: [{min: 8000, max: 8100}, {min: 9000, max: 9000}]
  allowedSysctls: [net.ipv4.ip_local_port_range, "kernel.shm*", net.core.somaxconn]
  allowedHostPaths: [{pathPrefix: /var/log, readOnly: true}, {pathPrefix: /etc/ssl/certs, readOnly: true}, {pathPrefix: /data}]
  allowedLocalhostProfiles: [profiles/app.json, profiles/db.json]
  runAsUser: {ranges: [{min: 1000, max: 65535}]}
  runAsGroup: {ranges: [{min: 1000, max: 65535}]}
  fsGroup: {ranges: [{min: 1000, max: 65535}]}
  supplementalGroups: {ranges: [{min: 1000, max: 65535}]}
  plaintextSecrets: {mode: Forbid}
resources:
  requireRequests: [cpu, memory]
  requireLimits: [cpu, memory]
  maxLimits: {cpu: "8", memory: 16Gi}
  maxRequests: {cpu: "4", memory: 8Gi}
  maxLimitRequestRatio: {cpu: "4", memory: "2"}
`

// patterns returns n allowlist patterns, every fourth on Docker Hub (which costs more).
func patterns(n int, prefix string) string {
	var out []string
	for i := range n {
		if i%4 == 3 {
			out = append(out, fmt.Sprintf("%q", fmt.Sprintf("docker.io/%s%d/*", prefix, i)))
			continue
		}
		out = append(out, fmt.Sprintf("%q", fmt.Sprintf("registry%d.%s.example.com/**", i, prefix)))
	}
	return strings.Join(out, ", ")
}

// bigPod is a Pod with n containers and one init container, each with every field the rules read
// set to an allowed value, so that no expression stops early at a violation.
func bigPod(n int) []byte {
	var cs []string
	ctr := func(name string) string {
		return fmt.Sprintf(`{"name": %q, "image": "registry1.org.example.com/team/app-%s@sha256:%s",
 "securityContext": {"privileged": false, "runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
  "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, "seccompProfile": {"type": "RuntimeDefault"}},
 "ports": [{"containerPort": 8080}, {"containerPort": 9090}],
 "env": [{"name": "MODE", "value": "production"}, {"name": "REGION", "value": "eu-west-1"}],
 "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}}}`, name, name, strings.Repeat("a", 64))
	}
	for i := range n {
		cs = append(cs, ctr(fmt.Sprintf("app%d", i)))
	}
	return []byte(fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big", "namespace": "default"},
 "spec": {"automountServiceAccountToken": false, "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
  "seccompProfile": {"type": "RuntimeDefault"}},
  "initContainers": [%s], "containers": [%s],
  "volumes": [{"name": "logs", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "conf"}}]}}`, ctr("init"), strings.Join(cs, ", ")))
}

// charged is the cost the API server charges for evaluating p on obj: the least budget up to max at
// which every decision is made without running out, or max+1 when there is none.
func charged(t testing.TB, p *admissionv1.ValidatingAdmissionPolicy, obj runtime.Object, max int64) int64 {
	t.Helper()
	v := newValidator(t, p)
	if !decides(t, v, obj, max) {
		return max + 1
	}
	lo, hi := int64(0), max
	for lo < hi {
		mid := (lo + hi) / 2
		if decides(t, v, obj, mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// decides is true when v decides on obj within budget.
func decides(t testing.TB, v validating.Validator, obj runtime.Object, budget int64) bool {
	for _, d := range validateWithBudget(t, v, obj, "default", budget) {
		if d.Evaluation == validating.EvalError {
			return false
		}
	}
	return true
}

// single is p with only validation i.
func single(p *admissionv1.ValidatingAdmissionPolicy, i int) *admissionv1.ValidatingAdmissionPolicy {
	q := p.DeepCopy()
	q.Spec.Validations = q.Spec.Validations[i : i+1]
	return q
}

type costFigure struct {
	name        string
	validations int
	total       int64  // the whole binding, in cost units
	worst       int64  // the costliest single validation
	worstRule   string // its rule
}

// measure charges res on obj. A validation costs at most the binding, so only when the binding costs
// more than the per-call limit is each validation checked against it (one evaluation each); exact
// names the costliest validation, which costs a search per validation (for make bench-vap).
func measure(t testing.TB, name string, res *vap.Result, obj runtime.Object, exact bool) costFigure {
	f := costFigure{name: name, validations: len(res.Policy.Spec.Validations), total: charged(t, res.Policy, obj, celconfig.RuntimeCELCostBudget)}
	for i := range res.Policy.Spec.Validations {
		switch {
		case exact:
			if c := charged(t, single(res.Policy, i), obj, f.total); c > f.worst {
				f.worst, f.worstRule = c, res.Checks[i]
			}
		case f.total > celconfig.PerCallLimit && !decides(t, newValidator(t, single(res.Policy, i)), obj, celconfig.PerCallLimit):
			f.worst, f.worstRule = celconfig.PerCallLimit+1, res.Checks[i]
		}
	}
	return f
}

func compileYAML(t testing.TB, name, spec string) *vap.Result {
	t.Helper()
	var s v1alpha1.PolicySpec
	if err := yaml.UnmarshalStrict([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: s})
	if err != nil {
		t.Fatal(err)
	}
	res, err := vap.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil {
		t.Fatalf("%s compiles to nothing", name)
	}
	return res
}

// TestCELCostWithinLimits measures, with the API server's own validator, the cost each example
// policy and the largest policy are charged on a pod of 10 containers, and fails when any validation
// passes the per-call limit or a binding the per-request budget: there the VAP would deny a pod the
// webhook admits. SEALGATE_VAP_COST=FILE also writes the figures as a markdown table
// (make bench-vap puts it in docs/performance.md).
func TestCELCostWithinLimits(t *testing.T) {
	var figures []costFigure
	obj := apiObject(t, bigPod(10))
	out := os.Getenv("SEALGATE_VAP_COST")
	paths, _ := filepath.Glob("../../examples/policies/*.yaml")
	ps, err := policy.LoadPaths(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		res, err := vap.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Policy != nil {
			figures = append(figures, measure(t, "examples/"+p.Name, res, obj, out != ""))
		}
	}
	for _, n := range []int{16, 64} {
		res := compileYAML(t, fmt.Sprintf("largest-%d", n), fmt.Sprintf(largestPolicy, patterns(n, "org"), patterns(n, "bad")))
		figures = append(figures, measure(t, fmt.Sprintf("largest, %d allowed and %d denied patterns", n, n), res, obj, out != ""))
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| policy (pod of 10 containers + 1 init) | validations | cost charged | share of the budget (%d) | costliest validation | share of the per-call limit (%d) |\n|---|---|---|---|---|---|\n",
		celconfig.RuntimeCELCostBudget, celconfig.PerCallLimit)
	for _, f := range figures {
		worst := "not measured (run make bench-vap)"
		if out != "" {
			worst = fmt.Sprintf("%d (%s) | %.1f%%", f.worst, f.worstRule, 100*float64(f.worst)/celconfig.PerCallLimit)
		} else {
			worst += " | —"
		}
		fmt.Fprintf(&table, "| %s | %d | %d | %.1f%% | %s |\n", f.name, f.validations, f.total,
			100*float64(f.total)/celconfig.RuntimeCELCostBudget, worst)
		if f.total > celconfig.RuntimeCELCostBudget {
			t.Errorf("%s: the binding's cost %d is over the per-request budget %d", f.name, f.total, celconfig.RuntimeCELCostBudget)
		}
		if f.worst > celconfig.PerCallLimit {
			t.Errorf("%s: validation of %s costs %d, over the per-call limit %d", f.name, f.worstRule, f.worst, celconfig.PerCallLimit)
		}
	}
	t.Logf("CEL cost:\n%s", table.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
