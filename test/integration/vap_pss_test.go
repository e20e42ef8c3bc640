//go:build integration

package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestVAPAgreesWithWebhookOnPSSFixtures is the proof by difference of issue 12 on the Pod Security
// fixtures k8s.io/pod-security-admission ships: every distinct fixture pod, under a podSecurity
// policy at each level (latest) and at older pinned versions whose checks differ, is created
// (dryRun) through the real API server with sealgate's webhook alone and with only the generated
// ValidatingAdmissionPolicies. Each fixture is wrapped in one pod-bearing kind, a different one
// per policy, so that every kind is covered without running every fixture in each. The policies
// compile exactly, so the verdicts must agree; it prints the agreement.
func TestVAPAgreesWithWebhookOnPSSFixtures(t *testing.T) {
	fixtures := pssFixtures(t)
	levels := []struct{ level, version string }{
		{"baseline", "latest"}, {"restricted", "latest"}, {"baseline", "v1.18"}, {"restricted", "v1.24"},
	}
	type pssPolicy struct {
		name, spec string
		res        *vap.Result
	}
	var pols []pssPolicy
	var objs []map[string]any
	polOf := map[string]int{}
	for i, lv := range levels {
		label := fmt.Sprintf("vp-%d", i)
		ns := namespace(t, label, nil)
		spec := fmt.Sprintf(`{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, podSecurity: {level: %s, version: %s}}`,
			label, lv.level, lv.version)
		p := pssPolicy{name: "int-" + label, spec: spec, res: compileCAP(t, "int-"+label, mustSpec(t, spec))}
		for _, st := range p.res.Rules {
			if st.State != vap.Exact {
				t.Fatalf("%s/%s: rule %s is %s (%s); the PSS difference wants every check exact", lv.level, lv.version, st.Rule, st.State, st.Reason)
			}
		}
		pols = append(pols, p)
		for j, fx := range fixtures {
			k := workload.Kinds[(i+j)%len(workload.Kinds)]
			obj := wrap(k, fx, ns, fmt.Sprintf("f%d-%s", j, strings.ToLower(k.GVK.Kind)))
			polOf[objectID(obj)] = i
			objs = append(objs, obj)
		}
	}
	const probeSpec = `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: %s}}}, containers: {privileged: Forbid}}`
	whProbeNS, vapProbeNS := namespace(t, "vp-whprobe", nil), namespace(t, "vp-vapprobe", nil)
	applyPolicy(t, "int-vp-whprobe", fmt.Sprintf(probeSpec, "vp-whprobe"))
	whProbe, vapProbe := privilegedPod(whProbeNS), privilegedPod(vapProbeNS)

	// Run 1: the webhook alone.
	for _, p := range pols {
		applyPolicy(t, p.name, p.spec)
	}
	waitProbe(t, whProbe, denied, "the webhook denies its probe")
	webhook, webhookWhy := vapVerdicts(t, objs)

	// Run 2: the generated VAPs alone (the VAP probe last, as in the rule fixtures' difference).
	withoutWebhook(t, whProbe)
	wc, warnings := warningClient(t)
	for _, p := range pols {
		if w := applyVAP(t, wc, warnings, p.res); len(w) > 0 {
			t.Logf("storing %s, the API server warned: %q", p.res.Policy.Name, w)
		}
	}
	applyVAP(t, wc, warnings, compileCAP(t, "int-vp-vapprobe", mustSpec(t, fmt.Sprintf(probeSpec, "vp-vapprobe"))))
	waitProbe(t, vapProbe, vapDenied, "the generated VAPs are enforced")
	viaVAP, vapWhy := vapVerdicts(t, objs)

	var compared, agree, invalids int
	counts := map[string]int{}
	kinds := map[string]bool{}
	deniedBy := map[string]bool{} // the checks the webhook names where both deny
	for _, o := range objs {
		id := objectID(o)
		lv := levels[polOf[id]]
		w, v := webhook[id], viaVAP[id]
		counts[lv.level+"/"+lv.version+" webhook "+string(w)]++
		counts[lv.level+"/"+lv.version+" VAP "+string(v)]++
		why := fmt.Sprintf("%s (%s/%s): webhook %s %q, VAP %s %q", id, lv.level, lv.version, w, webhookWhy[id], v, vapWhy[id])
		switch {
		case v == denied:
			t.Errorf("%s: sealgate's webhook answered with its configuration deleted", why)
		case w == invalid || v == invalid:
			invalids++
			if w != v {
				t.Errorf("%s: the API server's validation differs between the runs", why)
			}
		default:
			compared++
			kinds[o["kind"].(string)] = true
			if (w == denied) == (v == vapDenied) {
				agree++
			} else {
				t.Errorf("%s: exact PSS checks disagree", why)
			}
			if w == denied && v == vapDenied {
				for _, m := range pssCheckRE.FindAllStringSubmatch(webhookWhy[id], -1) {
					deniedBy[m[1]] = true
				}
			}
		}
	}
	if len(kinds) != len(workload.Kinds) {
		t.Errorf("compared kinds %v, want every pod-bearing kind", kinds)
	}
	// The webhook names every failing check (the VAP only the first): each check must have
	// caused a denial both runs made.
	for _, chk := range psapolicy.DefaultChecks() {
		if !deniedBy[string(chk.ID)] {
			t.Errorf("no fixture denied in both runs fails check %s", chk.ID)
		}
	}
	if compared == 0 {
		t.Fatal("no verdicts compared")
	}
	t.Logf("VAP vs webhook through the API server, %d upstream PSS fixture pods × %d policies (%v): %d/%d verdicts agree (%.1f%%); "+
		"%d invalid in both runs; verdicts %v", len(fixtures), len(pols), levels, agree, compared, 100*float64(agree)/float64(compared), invalids, counts)
}

// pssCheckRE finds the PSS check IDs a denial message names: podSecurity.<check>.
var pssCheckRE = regexp.MustCompile(`podSecurity\.([A-Za-z_]+)`)
