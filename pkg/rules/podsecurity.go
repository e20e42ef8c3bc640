package rules

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// podSecurity implements spec.podSecurity: the pod must meet a Pod Security Standards level
// (baseline or restricted) at a version ("latest" or "v1.N"). The verdict is that of
// k8s.io/pod-security-admission/policy, the library the API server's Pod Security Admission uses:
// the same checks, versions and restricted-over-baseline overrides, so sealgate never disagrees with
// the cluster. Sealgate adds what upstream's results lack: the ID of each failing check, reported as
// the finding's rule ("podSecurity.runAsNonRoot"), and the field path of every offending field
// (podsecurity_locate.go). spec.podSecurity.exclude turns checks off, for the pod or for the
// containers of some images (podsecurity_exclude.go). Each check compiles to ValidatingAdmissionPolicy
// CEL at the level and pinned version (podsecurity_cel.go), exactly unless an exclusion names images.
//
// Reads: the pod's metadata (annotations) and its whole spec.
// Allowed: whatever upstream allows at the level and version, less the excluded checks; the
// privileged level allows everything.
var podSecurity = register(Def[pssConfig]{
	ID:   "podSecurity",
	Name: "Pods meet the Pod Security Standards level",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*pssConfig, field.ErrorList) {
		ps := s.PodSecurity
		if ps == nil {
			return nil, nil
		}
		cfg := &pssConfig{}
		// The level and version are validated with the spec (v1alpha1.Validate).
		cfg.Level, _ = psaapi.ParseLevel(ps.Level)
		cfg.Version, _ = psaapi.ParseVersion(ps.Version)
		var errs field.ErrorList
		cfg.exclude, errs = compileExclusions(ps, cfg.Level, spec.Child("podSecurity", "exclude"))
		if len(errs) > 0 || cfg.Level == psaapi.LevelPrivileged {
			return nil, errs
		}
		return cfg, nil
	},
	Check: func(cfg *pssConfig, t *Target, out *Findings) {
		c, err := defaultPSS()
		if err != nil {
			// Fail closed: a pod sealgate cannot judge is not a pod that passed.
			out.Add(Finding{Rule: "podSecurity", Path: t.SpecPath,
				Message: found("the Pod Security Standards checks could not be loaded: "+err.Error(),
					"sealgate cannot judge this pod; report this as a bug")})
			return
		}
		c.check(cfg, t, out)
	},
	CEL: pssCompileCEL,
})

// pssConfig is the compiled spec.podSecurity.
type pssConfig struct {
	psaapi.LevelVersion
	// exclude holds the excluded checks; nil when there are none.
	exclude map[psapolicy.CheckID]*pssExclusion
}

// defaultPSS builds the checker over upstream's default checks once, on first use.
var defaultPSS = sync.OnceValues(func() (*pssChecker, error) {
	return newPSSChecker(psapolicy.DefaultChecks())
})

// pssChecker evaluates pods with upstream's evaluator, built once over checks whose results carry
// their check ID. It is safe for concurrent use: only its standards cache changes after it is built.
type pssChecker struct {
	eval psapolicy.Evaluator
	// checks holds each check's versions as upstream wrote them (not tagged), for the locators' probes.
	checks map[psapolicy.CheckID][]psapolicy.VersionedCheck
	// maxVersion is the newest version any check has; "latest" and newer versions evaluate as it.
	maxVersion psaapi.Version
	// rules is each check's rule name, "podSecurity.<check>", built once: a denial names several.
	rules map[psapolicy.CheckID]string
	// standards remembers standard's answers (LevelVersion to string) for latest and the versions up
	// to maxVersion: a denial names the standard in every finding.
	standards sync.Map
}

// pssIDSep separates the check ID from upstream's reason in a tagged ForbiddenReason. No check ID
// or reason contains it.
const pssIDSep = "\x00"

func newPSSChecker(checks []psapolicy.Check) (*pssChecker, error) {
	c := &pssChecker{checks: make(map[psapolicy.CheckID][]psapolicy.VersionedCheck, len(checks)),
		rules: make(map[psapolicy.CheckID]string, len(checks))}
	tagged := make([]psapolicy.Check, len(checks))
	for i, chk := range checks {
		c.checks[chk.ID] = chk.Versions
		c.rules[chk.ID] = "podSecurity." + string(chk.ID)
		if n := len(chk.Versions); n > 0 && c.maxVersion.Older(chk.Versions[n-1].MinimumVersion) {
			c.maxVersion = chk.Versions[n-1].MinimumVersion
		}
		tagged[i] = chk
		tagged[i].Versions = slices.Clone(chk.Versions)
		for j := range tagged[i].Versions {
			tagged[i].Versions[j].CheckPod = pssTag(chk.ID, chk.Versions[j].CheckPod)
		}
	}
	eval, err := psapolicy.NewEvaluator(tagged, nil)
	if err != nil {
		return nil, err
	}
	c.eval = eval
	return c, nil
}

// pssTag wraps a check so that a forbidden result names its check. It allocates only on failure, so
// that a compliant pod costs what it costs upstream.
func pssTag(id psapolicy.CheckID, fn psapolicy.CheckPodFn) psapolicy.CheckPodFn {
	prefix := string(id) + pssIDSep
	return func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) psapolicy.CheckResult {
		r := fn(meta, spec)
		if !r.Allowed {
			r.ForbiddenReason = prefix + r.ForbiddenReason
		}
		return r
	}
}

// pssUntag splits a tagged ForbiddenReason into the check ID and upstream's reason.
func pssUntag(reason string) (psapolicy.CheckID, string) {
	id, rest, ok := strings.Cut(reason, pssIDSep)
	if !ok {
		return "", reason
	}
	if rest == "" {
		rest = psapolicy.UnknownForbiddenReason
	}
	return psapolicy.CheckID(id), rest
}

// evaluate runs upstream's evaluator and returns its results, tagged.
func (c *pssChecker) evaluate(lv psaapi.LevelVersion, t *Target) []psapolicy.CheckResult {
	meta := t.Meta
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	return c.eval.EvaluatePod(lv, meta, t.Spec)
}

// check reports the findings of every check the pod fails: one per offending field, a list field
// counting as one. An excluded check is judged again without what it exempts.
func (c *pssChecker) check(cfg *pssConfig, t *Target, out *Findings) {
	// x is one locator run, reused by every failing check of the pod: it holds a probe pod spec, a
	// large struct, and a denied pod fails several checks.
	var x *pssLocate
	for _, r := range c.evaluate(cfg.LevelVersion, t) {
		if r.Allowed {
			continue
		}
		id, reason := pssUntag(r.ForbiddenReason)
		if ex := cfg.exclude[id]; ex != nil {
			c.checkExcluded(cfg, id, ex, t, out)
			continue
		}
		if x == nil {
			x = new(pssLocate)
		}
		c.locate(out, cfg.LevelVersion, id, reason, r.ForbiddenDetail, t, pssScope{}, x)
	}
}

// locate reports the findings of one failing check: one per location its locator finds, or one at
// the pod spec when there is no locator (a check newer than this code) or it finds nothing. x is
// the locator run to reuse (its probe container slice is kept), or nil.
func (c *pssChecker) locate(out *Findings, lv psaapi.LevelVersion, id psapolicy.CheckID, reason, detail string, t *Target, scope pssScope, x *pssLocate) {
	rule, ok := c.rules[id]
	if !ok {
		rule = "podSecurity"
		if id != "" {
			rule += "." + string(id)
		}
	}
	standard := c.standard(lv)
	if loc := pssLocators[id]; loc != nil {
		if x == nil {
			x = new(pssLocate)
		}
		*x = pssLocate{id: id, t: t, probe: c.checkAt(id, c.effective(lv.Version)), out: out, rule: rule, standard: standard,
			pssScope: scope, one: x.one}
		loc(x)
		if x.n > 0 {
			return
		}
	}
	// Upstream's reason and detail quote the pod (every forbidden capability, every sysctl), so they
	// are cut like any other value of the pod.
	reason, detail = Truncate(reason, pssMaxUpstreamText), Truncate(detail, pssMaxUpstreamText)
	what := "pod fails the " + string(id) + " check: " + reason
	if id == "" {
		what = "pod fails a check: " + reason
	}
	fix := standard + " forbids this: change the pod so that the check passes"
	if detail != "" {
		what += " (" + detail + ")"
		fix = standard + " forbids this: change the fields the detail names"
	}
	out.Add(Finding{Rule: rule, Path: t.SpecPath, Message: found(what, fix)})
}

// pssMaxUpstreamText bounds upstream's reason and detail in a fallback message: room for a few
// quoted values, as a message sealgate words itself has.
const pssMaxUpstreamText = 4 * MaxValueBytes

// effective is the version upstream evaluates for v: "latest" and versions newer than every check
// evaluate as the newest.
func (c *pssChecker) effective(v psaapi.Version) psaapi.Version {
	if c.maxVersion.Older(v) {
		return c.maxVersion
	}
	return v
}

// checkAt returns the check's function, as upstream wrote it, in force at version v.
func (c *pssChecker) checkAt(id psapolicy.CheckID, v psaapi.Version) psapolicy.CheckPodFn {
	var fn psapolicy.CheckPodFn
	for _, vc := range c.checks[id] {
		if v.Older(vc.MinimumVersion) {
			break
		}
		fn = vc.CheckPod
	}
	return fn
}

// standard names the level and version in messages: "the restricted Pod Security Standard (v1.22)",
// or "(latest, v1.37)" so that a reader knows which rules "latest" meant.
func (c *pssChecker) standard(lv psaapi.LevelVersion) string {
	if s, ok := c.standards.Load(lv); ok {
		return s.(string)
	}
	s := "the " + string(lv.Level) + " Pod Security Standard (" + pssVersion(lv.Version) + ")"
	if lv.Version.Latest() {
		s = "the " + string(lv.Level) + " Pod Security Standard (latest, " + pssVersion(c.maxVersion) + ")"
	}
	if lv.Version.Latest() || !c.maxVersion.Older(lv.Version) {
		// Bounded: three levels, "latest" and the versions up to the newest check's. A policy may name
		// any later version; those are built each time, not remembered.
		c.standards.Store(lv, s)
	}
	return s
}

// pssVersion is v.String() without fmt: it is written into every podSecurity denial.
func pssVersion(v psaapi.Version) string {
	if v.Latest() {
		return "latest"
	}
	return "v" + strconv.Itoa(v.Major()) + "." + strconv.Itoa(v.Minor())
}
