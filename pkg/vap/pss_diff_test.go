package vap_test

import (
	"github.com/sealgate/sealgate/internal/pssfixtures"

	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
)

// pssVersions are the pinned versions the PSS difference runs at: latest, and older ones at which
// checks behave differently (v1.34 probe hosts, v1.35 user namespaces, v1.31 SELinux types, v1.25
// Windows pods, v1.22 and v1.23 restricted capabilities and runAsUser, v1.18 seccomp annotations).
var pssVersions = []string{"latest", "v1.34", "v1.30", "v1.24", "v1.22", "v1.18"}

// TestPSSFixturesAgree runs every distinct upstream Pod Security fixture pod
// (k8s.io/pod-security-admission/test/testdata, every check, level and version) through the
// engine and through the generated policy, at both levels and several pinned versions, and under
// exclusions. Each check is compared on its own: an exact check must deny exactly
// when the engine reports that check, a conservative one at least then; every check must deny
// some fixture, and a denial's message must name a path the engine reports for the check.
func TestPSSFixturesAgree(t *testing.T) {
	pods, err := pssfixtures.Load("")
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Rules: rules.Default(), SkipSignatures: true}
	var psRule rules.Rule
	for _, r := range rules.Default().Rules() {
		if r.ID == "podSecurity" {
			psRule = r
		}
	}
	var cases []pssCase
	for _, level := range []string{"baseline", "restricted"} {
		for _, version := range pssVersions {
			cases = append(cases, pssCase{level: level, version: version})
		}
	}
	cases = append(cases, pssExclusionCases...)
	seen := map[string]bool{}
	var verdicts, agree, exactVerdicts, exactAgree, underDenials, sameMessage, denials int
	for _, tc := range cases {
		level, version := tc.level, tc.version
		p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Spec: v1alpha1.PolicySpec{PodSecurity: &v1alpha1.PodSecurity{Level: level, Version: version, Exclude: tc.exclude}}})
		if err != nil {
			t.Fatalf("%s/%s: %v", level, version, err)
		}
		res, err := vap.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if tc.exclude != nil {
			version += fmt.Sprintf(" excluding %v", tc.exclude)
		}
		exact := map[string]bool{}
		for _, c := range psRule.CEL(p) {
			exact[c.Rule] = c.Exact
		}
		got := map[string]string{}
		for rule, isExact := range exact {
			got[rule] = map[bool]string{true: "exact", false: "conservative"}[isExact]
		}
		for rule, want := range tc.want {
			if got[rule] != want {
				t.Errorf("%s/%s: check %s compiles %q, want %q", level, version, rule, got[rule], want)
			}
		}
		for rule, state := range got {
			if _, ok := tc.want[rule]; !ok && state != "exact" {
				t.Errorf("%s/%s: check %s is %s, want exact", level, version, rule, state)
			}
		}
		val := newValidator(t, res.Policy)
		// Every fixture as a Pod; at the latest version also in a CronJob, whose pod spec and
		// metadata are the deepest, so that the messages' paths are held there too.
		kinds := []workload.Kind{workload.Kinds[0]}
		if tc.version == "latest" && tc.exclude == nil {
			kinds = append(kinds, workload.Kinds[6])
		}
		for _, pod := range pods {
			for _, k := range kinds {
				name := level + "/" + version + "/" + pod.Files[0] + " as " + k.GVK.Kind
				js, err := json.Marshal(pssfixtures.Wrap(k, pod.Pod, "default", "wrapped"))
				if err != nil {
					t.Fatal(err)
				}
				w, err := workload.Decode(k.GVK, js)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				found := map[string][]string{}
				for _, v := range eng.Evaluate(context.Background(), []*policy.Policy{p}, w, "default").Violations {
					v.Rules(func(rule string) { found[rule] = append(found[rule], v.Path+": "+v.Message) })
				}
				denied := map[string][]string{}
				for i, d := range validate(t, val, apiObject(t, js), "default") {
					switch d.Evaluation {
					case validating.EvalError:
						t.Errorf("%s: validation %d (%s) failed: %s", name, i, res.Checks[i], rules.Truncate(d.Message, 300))
					case validating.EvalDeny:
						denied[res.Checks[i]] = append(denied[res.Checks[i]], d.Message)
					}
				}
				for rule := range found {
					if _, ok := exact[rule]; !ok && strings.HasPrefix(rule, "podSecurity") {
						t.Errorf("%s: the engine reports %s, which the VAP does not compile: %q", name, rule, found[rule])
					}
				}
				for rule, isExact := range exact {
					engineDenies, celDenies := len(found[rule]) > 0, len(denied[rule]) > 0
					verdicts++
					if isExact {
						exactVerdicts++
					}
					switch {
					case engineDenies == celDenies:
						agree++
						if isExact {
							exactAgree++
						}
					case isExact:
						t.Errorf("%s: exact check %s: engine denies %v (%q), VAP denies %v (%q)", name, rule, engineDenies, found[rule], celDenies, denied[rule])
					case engineDenies:
						underDenials++
						t.Errorf("%s: conservative check %s admits what the engine denies: %q", name, rule, found[rule])
					}
					if celDenies {
						seen[rule] = true
					}
					engineSays := found[rule]
					if !isExact {
						engineSays = nil // it denies containers the engine exempts
					}
					for _, msg := range denied[rule] {
						denials++
						checkMessage(t, name, rule, msg, engineSays, &sameMessage)
					}
				}
			}
		}
	}
	for _, chk := range psapolicy.DefaultChecks() {
		if !seen["podSecurity."+string(chk.ID)] {
			t.Errorf("no fixture is denied by check %s", chk.ID)
		}
	}
	if verdicts == 0 {
		t.Fatal("no verdicts compared")
	}
	t.Logf("VAP vs engine on %d upstream PSS fixture pods (as Pods, and CronJobs at latest; both levels, versions %v, and %d configurations with exclusions): "+
		"%d/%d check verdicts agree (%.1f%%); exact checks %d/%d (%.1f%%); conservative under-denials %d; %d/%d denial messages equal the engine's",
		len(pods), pssVersions, len(pssExclusionCases), agree, verdicts, 100*float64(agree)/float64(verdicts),
		exactAgree, exactVerdicts, 100*float64(exactAgree)/float64(exactVerdicts), underDenials, sameMessage, denials)
}

// pssCase is one podSecurity configuration of the difference; want gives the state ("exact",
// "conservative", or "" for not compiled) of the checks that are not simply exact.
type pssCase struct {
	level, version string
	exclude        []v1alpha1.PodSecurityExclusion
	want           map[string]string
}

// pssExclusionCases: an excluded check compiles to nothing, but at the restricted level leaves the
// baseline check it replaces in force; an exclusion limited to images keeps the check on every
// container (conservative), with the baseline check it replaces.
var pssExclusionCases = []pssCase{
	{level: "baseline", version: "latest", exclude: []v1alpha1.PodSecurityExclusion{{Check: "hostNamespaces"}, {Check: "privileged"}},
		want: map[string]string{"podSecurity.hostNamespaces": "", "podSecurity.privileged": ""}},
	{level: "restricted", version: "latest", exclude: []v1alpha1.PodSecurityExclusion{{Check: "capabilities_restricted"}, {Check: "restrictedVolumes"}},
		want: map[string]string{"podSecurity.capabilities_restricted": "", "podSecurity.capabilities_baseline": "exact",
			"podSecurity.restrictedVolumes": "", "podSecurity.hostPathVolumes": "exact"}},
	{level: "restricted", version: "latest", exclude: []v1alpha1.PodSecurityExclusion{{Check: "seccompProfile_restricted"}, {Check: "seccompProfile_baseline"}},
		want: map[string]string{"podSecurity.seccompProfile_restricted": "", "podSecurity.seccompProfile_baseline": ""}},
	{level: "restricted", version: "latest", exclude: []v1alpha1.PodSecurityExclusion{
		{Check: "runAsNonRoot", Images: []string{"registry.k8s.io/pause"}},
		{Check: "seccompProfile_restricted", Images: []string{"registry.k8s.io/*"}}},
		want: map[string]string{"podSecurity.runAsNonRoot": "conservative", "podSecurity.seccompProfile_restricted": "conservative",
			"podSecurity.seccompProfile_baseline": "conservative"}},
	{level: "restricted", version: "latest", exclude: []v1alpha1.PodSecurityExclusion{
		{Check: "capabilities_restricted"}, {Check: "capabilities_baseline", Images: []string{"registry.k8s.io/pause"}}},
		want: map[string]string{"podSecurity.capabilities_restricted": "", "podSecurity.capabilities_baseline": "conservative"}},
}
