package rules

import (
	"slices"
	"strconv"
	"strings"

	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// The Pod Security Standards checks as ValidatingAdmissionPolicy CEL (issue 12). Each upstream
// check (k8s.io/pod-security-admission/policy/check_*.go) is written out at the version the policy
// pins ("latest" is the newest), with the restricted-over-baseline overrides the evaluator applies,
// so that the CEL denies what upstream denies. The messages name the field path and say what the
// locators (podsecurity_locate.go) say; a list field holding several offending entries is named
// once, as the locators do.

// pssCELCheck is the CEL compiler of one upstream check at a version.
type pssCELCheck func(b *pssCEL)

// pssCELChecks maps each upstream check ID to its CEL. A test asserts that every check has one.
var pssCELChecks = map[psapolicy.CheckID]pssCELCheck{
	"allowPrivilegeEscalation":   pssCELAllowPrivilegeEscalation,
	"appArmorProfile":            pssCELAppArmorProfile,
	"capabilities_baseline":      pssCELCapabilitiesBaseline,
	"capabilities_restricted":    pssCELCapabilitiesRestricted,
	"hostNamespaces":             pssCELHostNamespaces,
	"hostPathVolumes":            pssCELHostPathVolumes,
	"hostPorts":                  pssCELHostPorts,
	"hostProbesAndHostLifecycle": pssCELHostProbesAndHostLifecycle,
	"privileged":                 pssCELPrivileged,
	"procMount":                  pssCELProcMount,
	"procMount_restricted":       pssCELProcMount,
	"restrictedVolumes":          pssCELRestrictedVolumes,
	"runAsNonRoot":               pssCELRunAsNonRoot,
	"runAsUser":                  pssCELRunAsUser,
	"seLinuxOptions":             pssCELSELinuxOptions,
	"seccompProfile_baseline":    pssCELSeccompBaseline,
	"seccompProfile_restricted":  pssCELSeccompRestricted,
	"sysctls":                    pssCELSysctls,
	"windowsHostProcess":         pssCELWindowsHostProcess,
}

// pssCEL builds the validations of one check.
type pssCEL struct {
	id psapolicy.CheckID
	// v is the effective version (never "latest").
	v psaapi.Version
	// standard names the level and version in messages, as the webhook's do.
	standard string
	exact    bool
	note     string
	out      []CELCheck
}

// atLeast reports whether the evaluated version is 1.minor or newer.
func (b *pssCEL) atLeast(minor int) bool { return !b.v.Older(psaapi.MajorMinorVersion(1, minor)) }

// add appends a validation: expr is true when allowed, msg the CEL string of the message.
func (b *pssCEL) add(expr, msg string) {
	b.out = append(b.out, CELCheck{Rule: "podSecurity." + string(b.id), Expression: expr, MessageExpression: msg,
		Exact: b.exact, Note: b.note})
}

// msg is the CEL of a message: path, what was found (CEL strings), then the standard and the fix.
func (b *pssCEL) msg(path, what, fix string) string {
	return path + " + ': ' + " + what + " + " + celText("; "+b.standard+" "+fix)
}

// pssCompileCEL compiles cfg: the checks upstream runs at its level and version, less those it
// excludes for the whole pod, plus the baseline checks that an excluded restricted check leaves in
// force. An exclusion limited to images is compiled without it (conservative).
func pssCompileCEL(cfg *pssConfig) []CELCheck {
	c, err := defaultPSS()
	if err != nil {
		return []CELCheck{{Rule: "podSecurity", Expression: "false", Exact: true,
			MessageExpression: CELSpecPath + " + " + celText(": the Pod Security Standards checks could not be loaded; report this as a bug")}}
	}
	v := c.effective(cfg.Version)
	levels := map[psapolicy.CheckID]psaapi.Level{}
	for _, chk := range psapolicy.DefaultChecks() {
		levels[chk.ID] = chk.Level
	}
	// The checks in force at v, by ID; at the restricted level without the baseline ones overridden.
	active := map[psapolicy.CheckID]bool{}
	overrides := map[psapolicy.CheckID][]psapolicy.CheckID{}
	for id := range c.checks {
		if c.checkAt(id, v) == nil || (levels[id] == psaapi.LevelRestricted && cfg.Level != psaapi.LevelRestricted) {
			continue
		}
		active[id] = true
		if levels[id] == psaapi.LevelRestricted {
			overrides[id] = c.overridden(id, v)
		}
	}
	for _, ids := range overrides {
		for _, o := range ids {
			delete(active, o)
		}
	}
	type job struct {
		id    psapolicy.CheckID
		level psaapi.Level
		note  string
	}
	var jobs []job
	for id := range active {
		ex := cfg.exclude[id]
		if !ex.whole() {
			note := ""
			if ex != nil {
				note = "podSecurity.exclude lists images for " + string(id) + ": the VAP does not exempt those containers from it"
			}
			jobs = append(jobs, job{id, cfg.Level, note})
		}
		if ex == nil {
			continue
		}
		// What the exclusion exempts stays held to the baseline checks the restricted one replaces:
		// exactly when it exempts the whole pod, else on every container (a superset).
		for _, o := range overrides[id] {
			if bex := cfg.exclude[o]; !bex.whole() {
				note := ""
				if bex != nil || !ex.whole() {
					note = "podSecurity.exclude lists images for " + string(id) + " or " + string(o) +
						": the VAP holds every container to " + string(o)
				}
				jobs = append(jobs, job{o, psaapi.LevelBaseline, note})
			}
		}
	}
	// By ID, so that the generated policy is stable.
	slices.SortFunc(jobs, func(a, b job) int { return strings.Compare(string(a.id), string(b.id)) })
	var out []CELCheck
	for _, j := range jobs {
		b := &pssCEL{id: j.id, v: v, standard: c.standard(psaapi.LevelVersion{Level: j.level, Version: cfg.Version}),
			exact: j.note == "", note: j.note}
		if f := pssCELChecks[j.id]; f != nil {
			f(b)
		} else {
			// A check newer than this code: deny every pod rather than admit what it forbids.
			b.exact, b.note = false, "no CEL for check "+string(j.id)+": the VAP denies every pod"
			b.add("false", CELSpecPath+" + "+celText(": the "+string(j.id)+" check has no CEL; "+b.standard+" is enforced by the webhook"))
		}
		out = append(out, b.out...)
	}
	return out
}

// Container helpers: allowed is a CEL expression over the container c.

// pssAll is true when allowed holds for every container the webhook judges, of every list.
func pssAll(allowed string) string {
	var parts []string
	for _, k := range celLists {
		parts = append(parts, celList(k)+".all(c, "+celJudged(k, allowed)+")")
	}
	return strings.Join(parts, " && ")
}

// pssFirst is the CEL message of the first container the webhook judges, in visiting order, where
// allowed is false; msg is a function of the CEL of that container's path.
func pssFirst(allowed string, msg func(path string) string) string {
	var parts []string
	for _, k := range celLists {
		path := "(" + CELSpecPath + " + '." + k.Field() + "[' + string(i) + ']')"
		parts = append(parts, celList(k)+".transformList(i, c, !("+celJudged(k, allowed)+"), "+msg(path)+")")
	}
	return "(" + strings.Join(parts, " + ") + ")[0]"
}

// containers adds a validation of every container.
func (b *pssCEL) containers(allowed string, msg func(path string) string) {
	b.add(pssAll(allowed), pssFirst(allowed, msg))
}

// unless makes the last n validations pass when cond holds (a Windows pod, a user namespace).
func (b *pssCEL) unless(cond string, n int) {
	for i := len(b.out) - n; i < len(b.out); i++ {
		b.out[i].Expression = cond + " || (" + b.out[i].Expression + ")"
	}
}

// pssUserNS is upstream's relaxPolicyForUserNamespacePod: the pod sets hostUsers=false.
const pssUserNS = "(" + CELSpec + ".?hostUsers.orValue(true) == false)"

// pssList renders the offending entries of a list for a message as entries.join does: the first
// MaxListedValues of vals (a CEL list of strings), then "… (N more)".
func pssList(vals string) string {
	n := strconv.Itoa(MaxListedValues)
	return "(" + vals + ".transformList(j, s, j < " + n + ", s).join(', ') + (size(" + vals + ") > " + n +
		" ? ', … (' + string(size(" + vals + ") - " + n + ") + ' more)' : ''))"
}

// pssListMsg is the message of a list field with offending entries: list is its CEL, bad a CEL
// condition over its index i and entry e; one offending entry is named by single (a CEL message
// over i and e), several by many (a function of their count and their rendered values, each
// rendered by render, a CEL string over i and e).
func pssListMsg(list, bad, single, render string, many func(count, values string) string) string {
	vals := list + ".transformList(i, e, " + bad + ", " + render + ")"
	return "(size(" + vals + ") == 1 ? " + list + ".transformList(i, e, " + bad + ", " + single + ")[0] : " +
		many("string(size("+vals+"))", pssList(vals)) + ")"
}

// pssCELStrings is a CEL list literal of the strings.
func pssCELStrings(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = celText(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
