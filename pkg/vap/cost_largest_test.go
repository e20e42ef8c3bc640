package vap_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
)

// TestLargestPolicyCost evaluates the policy of every compiled container and resource rule at the
// CRD's list limits (64 ID ranges per knob, 64 port ranges, 256 sysctls, 64 profiles, 64 host
// paths half read-only, 64 capability names) on a large pod that passes them all, which makes
// every all() run to its end, with the API server's per-call and per-request budgets: no
// validation may fail on cost, since a failed one denies (failurePolicy Fail).
func TestLargestPolicyCost(t *testing.T) {
	var spec v1alpha1.PolicySpec
	if err := json.Unmarshal([]byte(largestListsPolicy()), &spec); err != nil {
		t.Fatal(err)
	}
	res := compile(t, spec)
	if res.Policy == nil {
		t.Fatal("nothing compiled")
	}
	for _, st := range res.Rules {
		if st.State == vap.NotCompiled {
			t.Errorf("rule %s not compiled: %s", st.Rule, st.Reason)
		}
	}
	v := newValidator(t, res.Policy)
	decisions := validate(t, v, apiObject(t, []byte(largePod())), "default")
	var size, largest int
	for _, val := range res.Policy.Spec.Validations {
		size += len(val.Expression) + len(val.MessageExpression)
		largest = max(largest, len(val.Expression), len(val.MessageExpression))
	}
	for i, d := range decisions {
		if d.Evaluation != validating.EvalAdmit {
			t.Errorf("validation %d (%s): %s: %.300s", i, res.Checks[i], d.Evaluation, d.Message)
		}
	}
	t.Logf("%d validations, %d bytes of CEL (the largest expression %d), all within the API server's CEL cost budgets on a pod of 70 containers",
		len(decisions), size, largest)
}

func largestListsPolicy() string {
	var ranges, ports, sysctls, profiles, paths, caps []string
	for i := range 64 {
		ranges = append(ranges, fmt.Sprintf(`{"min": %d, "max": %d}`, 1000+i*10, 1000+i*10+5))
		ports = append(ports, fmt.Sprintf(`{"min": %d, "max": %d}`, 1000+i*100, 1000+i*100+50))
		profiles = append(profiles, fmt.Sprintf(`"profiles/team-%d/*"`, i))
		paths = append(paths, fmt.Sprintf(`{"pathPrefix": "/var/lib/team-%d", "readOnly": %v}`, i, i%2 == 1))
		caps = append(caps, fmt.Sprintf(`"CAP%d"`, i))
	}
	for i := range 256 {
		sysctls = append(sysctls, fmt.Sprintf(`"net.team%d.*"`, i))
	}
	r := "{\"ranges\": [" + strings.Join(ranges, ", ") + "]}"
	return `{"containers": {"runAsUser": ` + r + `, "runAsGroup": ` + r + `, "fsGroup": ` + r + `, "supplementalGroups": ` + r +
		`, "allowedHostPorts": [` + strings.Join(ports, ", ") + `], "allowedSysctls": [` + strings.Join(sysctls, ", ") +
		`], "allowedLocalhostProfiles": [` + strings.Join(profiles, ", ") + `], "allowedHostPaths": [` + strings.Join(paths, ", ") +
		`], "capabilities": {"requiredDrop": [` + strings.Join(caps, ", ") + `], "allowedAdd": [` + strings.Join(caps, ", ") + `]}` +
		`, "automountServiceAccountToken": "Forbid", "privileged": "Forbid", "runAsRoot": "Forbid"}` +
		`, "resources": {"requireLimits": ["cpu", "memory", "ephemeral-storage"], "requireRequests": ["cpu", "memory", "ephemeral-storage"]` +
		`, "maxLimits": {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "1Ti"}, "maxRequests": {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "1Ti"}` +
		`, "maxLimitRequestRatio": {"cpu": "4", "memory": "1.5", "ephemeral-storage": "2"}}}`
}

// largePod passes largestListsPolicy, with the values that match last in each list.
func largePod() string {
	var drop, add []string
	for i := range 64 {
		drop = append(drop, fmt.Sprintf(`"CAP%d"`, i))
	}
	for i := range 8 {
		add = append(add, fmt.Sprintf(`"cap_cap%d"`, 63-i))
	}
	var vols, mounts, ports []string
	for i := range 64 {
		vols = append(vols, fmt.Sprintf(`{"name": "v%d", "hostPath": {"path": "/var/lib/team-63/./data/%d/"}}`, i, i))
		mounts = append(mounts, fmt.Sprintf(`{"name": "v%d", "mountPath": "/m/%d", "readOnly": true}`, i, i))
	}
	for i := range 16 {
		ports = append(ports, fmt.Sprintf(`{"containerPort": %d, "hostPort": %d}`, 7300+i, 7300+i))
	}
	container := func(kind string, i int) string {
		return fmt.Sprintf(`{"name": "%s-%d", "image": "registry.example.com/app:1.0", "ports": [%s], "volumeMounts": [%s],
			"securityContext": {"runAsUser": 1635, "runAsGroup": 1635, "privileged": false, "runAsNonRoot": true,
				"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/team-63/./audit.json"},
				"capabilities": {"drop": [%s], "add": [%s]}},
			"resources": {"requests": {"cpu": "16", "memory": "128Gi", "ephemeral-storage": "512Gi"}, "limits": {"cpu": "64", "memory": "192Gi", "ephemeral-storage": "1Ti"}}}`,
			kind, i, strings.Join(ports, ", "), strings.Join(mounts, ", "), strings.Join(drop, ", "), strings.Join(add, ", "))
	}
	var inits, regular []string
	for i := range 10 {
		inits = append(inits, container("init", i))
	}
	for i := range 60 {
		regular = append(regular, container("app", i))
	}
	var sysctls []string
	for i := range 32 {
		sysctls = append(sysctls, fmt.Sprintf(`{"name": "net/team255/key%d", "value": "1"}`, i))
	}
	return `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "large"}, "spec": {"automountServiceAccountToken": false,
		"securityContext": {"fsGroup": 1635, "supplementalGroups": [1635, 1634, 1633], "sysctls": [` + strings.Join(sysctls, ", ") + `],
			"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/team-63/pod.json"}},
		"volumes": [` + strings.Join(vols, ", ") + `], "initContainers": [` + strings.Join(inits, ", ") + `], "containers": [` + strings.Join(regular, ", ") + `]}}`
}
