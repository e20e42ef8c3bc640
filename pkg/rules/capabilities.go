package rules

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// capabilities implements spec.containers.capabilities, three checks on Linux capabilities:
//
//   - requireDropAll: securityContext.capabilities.drop must contain "ALL".
//   - requiredDrop: drop must contain each listed name, or "ALL".
//   - allowedAdd: every entry of securityContext.capabilities.add must be listed in allowedAdd; with
//     allowedAdd unset, nothing may be added; "*" allows anything. "ALL" in add is allowed only if
//     allowedAdd lists "ALL" (or "*"). One disallowed entry is reported at its index; several are
//     reported as one finding at the add list, with their count and the first few.
//
// The two lists are read differently, each on the side of caution. containerd (internal/cri/opts,
// WithCapabilities) upper-cases each name and prepends "CAP_"; CRI-O (SpecSetupCapabilities)
// upper-cases and prepends "CAP_" unless the name has it; both take "all" in any case for ALL. So a
// drop entry counts only as the API documents it, upper case without the prefix: "CAP_NET_RAW"
// drops nothing under containerd ("CAP_CAP_NET_RAW"), and "all" is what the restricted Pod Security
// Standard rejects, as it compares "ALL" exactly. An add entry is read as the most permissive
// runtime reads it: "net_admin", "CAP_NET_ADMIN" and "cap_net_admin" all add NET_ADMIN somewhere.
//
// Pods with spec.os.name=windows are exempt from the drop checks, as in the restricted standard:
// the API server rejects capabilities on Windows pods.
//
// Reads: spec.os.name, spec.{initContainers,containers,ephemeralContainers}[*].securityContext.capabilities.{drop,add}.
var capabilities = register(Def[capabilityRules]{
	ID:   "containers.capabilities",
	Name: "Containers drop the required capabilities and add only allowed ones",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*capabilityRules, field.ErrorList) {
		if s.Containers == nil || s.Containers.Capabilities == nil {
			return nil, nil
		}
		c := s.Containers.Capabilities
		path := spec.Child("containers", "capabilities")
		var errs field.ErrorList
		for i, cp := range c.AllowedAdd {
			switch {
			case cp == anyCapability && len(c.AllowedAdd) > 1:
				errs = append(errs, field.Invalid(path.Child("allowedAdd").Index(i), cp,
					`"*" allows every capability: list it alone`))
			case cp != anyCapability && !capabilityName(cp):
				errs = append(errs, field.Invalid(path.Child("allowedAdd").Index(i), cp,
					`must be an upper-case capability name without the CAP_ prefix, e.g. NET_BIND_SERVICE, or "*" alone`))
			}
		}
		for i, cp := range c.RequiredDrop {
			switch {
			case cp == "ALL":
				errs = append(errs, field.Invalid(path.Child("requiredDrop").Index(i), cp,
					"to require dropping every capability, set requireDropAll: true"))
			case !capabilityName(cp):
				errs = append(errs, field.Invalid(path.Child("requiredDrop").Index(i), cp,
					"must be an upper-case capability name without the CAP_ prefix, e.g. NET_RAW"))
			}
		}
		for _, l := range [...]struct {
			name string
			n    int
		}{{"allowedAdd", len(c.AllowedAdd)}, {"requiredDrop", len(c.RequiredDrop)}} {
			if l.n > maxCapabilityNames {
				errs = append(errs, field.TooMany(path.Child(l.name), l.n, maxCapabilityNames))
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return &capabilityRules{RequireDropAll: c.RequireDropAll, RequiredDrop: c.RequiredDrop,
			AllowedAdd: c.AllowedAdd, AnyAdd: slices.Contains(c.AllowedAdd, anyCapability)}, nil
	},
	Check: func(cr *capabilityRules, t *Target, out *Findings) {
		checkDrop := (cr.RequireDropAll || len(cr.RequiredDrop) > 0) && !windowsPod(t.Spec)
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var caps *corev1.Capabilities
			if c.SecurityContext != nil {
				caps = c.SecurityContext.Capabilities
			}
			if checkDrop {
				cr.checkDrop(c, caps, out)
			}
			if caps != nil && !cr.AnyAdd {
				cr.checkAdd(c, caps, out)
			}
		}
	},
	CEL: func(cr *capabilityRules) []CELCheck { return cr.cel() },
})

// capabilityRules is the compiled spec.containers.capabilities: with it set, only AllowedAdd may be
// added.
type capabilityRules struct {
	RequireDropAll bool
	RequiredDrop   []corev1.Capability
	AllowedAdd     []corev1.Capability
	// AnyAdd is allowedAdd: ["*"].
	AnyAdd bool
}

// anyCapability in allowedAdd allows every capability.
const anyCapability corev1.Capability = "*"

// maxCapabilityNames bounds allowedAdd and requiredDrop, as the CRD schema does; Linux has about 41
// capabilities.
const maxCapabilityNames = 64

var capabilityNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// capabilityName reports whether a policy names a capability as the API documents it.
func capabilityName(c corev1.Capability) bool {
	return capabilityNameRE.MatchString(string(c)) && !strings.HasPrefix(string(c), "CAP_")
}

// checkDrop reports a container that does not drop ALL (when required) or a required capability,
// as one finding at its drop list.
func (cr *capabilityRules) checkDrop(c *Container, caps *corev1.Capabilities, out *Findings) {
	var drop []corev1.Capability
	if caps != nil {
		drop = caps.Drop
	}
	if slices.Contains(drop, "ALL") {
		return
	}
	if cr.RequireDropAll {
		out.Add(Finding{Path: c.Path("securityContext", "capabilities", "drop"), Container: c.Name,
			Message: found(containerOwner(c)+" does not drop ALL capabilities"+uncounted(drop, "ALL"),
				`add "ALL" to securityContext.capabilities.drop and add back only the capabilities it needs`)})
		return
	}
	var missing []corev1.Capability
	for _, name := range cr.RequiredDrop {
		if !slices.Contains(drop, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return
	}
	path := c.Path("securityContext", "capabilities", "drop")
	switch len(missing) {
	case 1:
		out.Add(Finding{Path: path, Container: c.Name,
			Message: found(containerOwner(c)+" does not drop "+string(missing[0])+uncounted(drop, missing...),
				"add "+quote(string(missing[0]))+` (or "ALL") to securityContext.capabilities.drop`)})
	default:
		out.Add(Finding{Path: path, Container: c.Name,
			Message: found(containerOwner(c)+" does not drop "+count(len(missing), "required capability", "required capabilities")+": "+
				quoteList(missing)+uncounted(drop, missing...),
				`add them (or "ALL") to securityContext.capabilities.drop`)})
	}
}

// allowsAdd reports whether allowedAdd lists the capability an add entry names. It compares without
// regard to case rather than upper-casing, so that a lower-case entry costs no allocation.
func (cr *capabilityRules) allowsAdd(add string) bool {
	if len(add) >= len("CAP_") && strings.EqualFold(add[:len("CAP_")], "CAP_") {
		add = add[len("CAP_"):]
	}
	for _, a := range cr.AllowedAdd {
		if strings.EqualFold(string(a), add) {
			return true
		}
	}
	return false
}

// uncounted explains why a container's drop list does not count for names it misses: it quotes
// the entries that spell one of them in another case or with the CAP_ prefix. Empty when none do.
func uncounted(drop []corev1.Capability, names ...corev1.Capability) string {
	var near entries
	for i, d := range drop {
		if slices.Contains(names, corev1.Capability(strings.TrimPrefix(strings.ToUpper(string(d)), "CAP_"))) {
			near.add(i, string(d))
		}
	}
	if near.n == 0 {
		return ""
	}
	return " (it drops " + near.values() + `: only upper-case names without "CAP_" count)`
}

// checkAdd reports the entries of a container's add list that allowedAdd does not allow, as one
// finding. Each is read as its capability: in any case, without the CAP_ prefix.
func (cr *capabilityRules) checkAdd(c *Container, caps *corev1.Capabilities, out *Findings) {
	var bad entries
	for j, add := range caps.Add {
		if !cr.allowsAdd(string(add)) {
			bad.add(j, string(add))
		}
	}
	if bad.n == 0 {
		return
	}
	allowed := "no capability may be added"
	if len(cr.AllowedAdd) > 0 {
		allowed = "only " + quoteList(cr.AllowedAdd) + " may be added"
	}
	if bad.n == 1 {
		out.Add(Finding{Path: c.Path("securityContext", "capabilities", "add["+strconv.Itoa(bad.index)+"]"), Container: c.Name,
			Message: found(containerOwner(c)+" adds capability "+quote(bad.first[0]), allowed+"; remove it")})
		return
	}
	out.Add(Finding{Path: c.Path("securityContext", "capabilities", "add"), Container: c.Name,
		Message: found(containerOwner(c)+" adds "+count(bad.n, "capability", "capabilities")+" that are not allowed: "+bad.values(),
			allowed+"; remove them")})
}

// cel compiles the checks: the drop checks (Windows pods exempt), then the add check. A name is
// compared as allowsAdd does: CEL's upperAscii, after the two runes that strings.EqualFold folds
// to ASCII letters (the Kelvin sign and the long s) are spelled as those letters, is that
// comparison for the upper-case ASCII names a policy lists.
func (cr *capabilityRules) cel() []CELCheck {
	const (
		drop = "c.?securityContext.?capabilities.?drop.orValue([])"
		add  = "c.?securityContext.?capabilities.?add.orValue([])"
	)
	var out []CELCheck
	names := func(l []corev1.Capability) string {
		s := make([]string, len(l))
		for i, n := range l {
			s[i] = string(n)
		}
		return "[" + strings.Join(celTexts(s), ", ") + "]"
	}
	// uncounted is the CEL of uncounted(drop, list).
	uncounted := func(list string) string {
		return "[" + drop + ".filter(d, [d.upperAscii()].map(u, u.startsWith('CAP_') ? u.substring(4) : u)[0] in " + list + ")].map(near, " +
			"size(near) == 0 ? '' : ' (it drops ' + " + celValues("near") + ` + ': only upper-case names without "CAP_" count)')[0]`
	}
	switch {
	case cr.RequireDropAll:
		out = append(out, celEach(celLists, "'ALL' in "+drop, func(path string) string {
			return path + " + '.securityContext.capabilities.drop: ' + " + celOwner + " + ' does not drop ALL capabilities' + " + uncounted("['ALL']") +
				" + " + celText(`; add "ALL" to securityContext.capabilities.drop and add back only the capabilities it needs`)
		}, celWindows, true)...)
	case len(cr.RequiredDrop) > 0:
		req := names(cr.RequiredDrop)
		out = append(out, celEach(celLists, "'ALL' in "+drop+" || "+req+".all(n, n in "+drop+")", func(path string) string {
			return "[" + req + ".filter(n, !(n in " + drop + "))].map(m, " + path + " + '.securityContext.capabilities.drop: ' + " + celOwner +
				" + (size(m) == 1 ? ' does not drop ' + m[0] + " + uncounted("m") + ` + '; add "' + m[0] + '" (or "ALL") to securityContext.capabilities.drop'` +
				" : ' does not drop ' + string(size(m)) + ' required capabilities: ' + m.map(n, '\"' + n + '\"').join(', ') + " + uncounted("m") +
				` + '; add them (or "ALL") to securityContext.capabilities.drop'))[0]`
		}, celWindows, true)...)
	}
	if cr.AnyAdd {
		return out
	}
	allowedAdd := "no capability may be added"
	if len(cr.AllowedAdd) > 0 {
		allowedAdd = "only " + quoteList(cr.AllowedAdd) + " may be added"
	}
	ok := "[a.replace('\u212a', 'K').replace('\u017f', 'S').upperAscii()].all(u, (u.startsWith('CAP_') ? u.substring(4) : u) in " + names(cr.AllowedAdd) + ")"
	return append(out, celEach(celLists, add+".all(a, "+ok+")", func(path string) string {
		return "[" + add + ".transformList(j, a, !" + ok + ", j)].map(b, size(b) == 1 ? " + path + " + '.securityContext.capabilities.add[' + string(b[0]) + ']: ' + " +
			celOwner + " + ' adds capability ' + " + celQuote(add+"[b[0]]") + " + " + celText("; "+allowedAdd+"; remove it") + " : " +
			path + " + '.securityContext.capabilities.add: ' + " + celOwner + " + ' adds ' + string(size(b)) + ' capabilities that are not allowed: ' + " +
			celValues("b.map(j, "+add+"[j])") + " + " + celText("; "+allowedAdd+"; remove them") + ")[0]"
	}, "", true)...)
}
