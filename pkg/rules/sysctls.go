package rules

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// sysctls implements spec.containers.allowedSysctls: every sysctl the pod sets
// (spec.securityContext.sysctls[*].name) must be listed. An entry is a name, compared exactly, or a
// prefix ending in "*", compared as a string prefix ("net.*", "kernel.shm*"), as PodSecurityPolicy
// and Gatekeeper's k8spspforbiddensysctls compare them; "*" alone allows every sysctl. The kubelet
// accepts "/" as separator and reads "net/ipv4/ip_local_port_range" as
// "net.ipv4.ip_local_port_range" (when the first separator is "/", it swaps "/" and "."), so both
// the policy's entries and the pod's names are normalized that way before comparing. Several
// offending sysctls are one finding at the list.
//
// Reads: spec.securityContext.sysctls[*].name.
var sysctls = register(Def[sysctlAllowlist]{
	ID:   "containers.sysctls",
	Name: "Pods set only allowed sysctls",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*sysctlAllowlist, field.ErrorList) {
		if s.Containers == nil || s.Containers.AllowedSysctls == nil {
			return nil, nil
		}
		list := s.Containers.AllowedSysctls
		path := spec.Child("containers", "allowedSysctls")
		var errs field.ErrorList
		if len(list) == 0 {
			errs = append(errs, field.Required(path, "list at least one sysctl, or leave allowedSysctls out to leave sysctls unchecked"))
		}
		if len(list) > 256 {
			errs = append(errs, field.TooMany(path, len(list), 256))
		}
		a := &sysctlAllowlist{source: list}
		for i, e := range list {
			pat := strings.HasSuffix(e, "*")
			switch {
			case e == "*":
				a.all = true
			case len(e) > sysctlMaxLength || pat && !sysctlPatternRE.MatchString(e) || !pat && !sysctlNameRE.MatchString(e):
				errs = append(errs, field.Invalid(path.Index(i), e,
					`must be a sysctl name such as "kernel.shm_rmid_forced", a prefix ending in "*" such as "net.*", or "*"`))
			case pat:
				a.prefixes = append(a.prefixes, normalizeSysctl(strings.TrimSuffix(e, "*")))
			default:
				a.names = append(a.names, normalizeSysctl(e))
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return a, nil
	},
	Check: func(a *sysctlAllowlist, t *Target, out *Findings) {
		sc := t.Spec.SecurityContext
		if a.all || sc == nil || len(sc.Sysctls) == 0 {
			return
		}
		var bad entries
		for i := range sc.Sysctls {
			if name := sc.Sysctls[i].Name; !a.allows(name) {
				bad.add(i, name)
			}
		}
		if bad.n == 0 {
			return
		}
		allowed := "only " + quoteList(a.source) + " may be set"
		if bad.n == 1 {
			out.Add(Finding{Path: t.Path("securityContext", "sysctls["+strconv.Itoa(bad.index)+"]", "name"),
				Message: found("the pod sets sysctl "+quote(bad.first[0]), allowed+"; remove it")})
			return
		}
		out.Add(Finding{Path: t.Path("securityContext", "sysctls"),
			Message: found("the pod sets "+count(bad.n, "sysctl", "sysctls")+" that are not allowed: "+bad.values(), allowed+"; remove them")})
	},
	CEL: func(a *sysctlAllowlist) []CELCheck {
		if a.all {
			return nil
		}
		list := CELSpec + ".?securityContext.?sysctls.orValue([])"
		// The kubelet's reading of name n: when its first separator is '/', '/' and '.' swap, which
		// splitting at '/' and joining with '.' does (normalizeSysctl).
		norm := "(n.indexOf('/') >= 0 && (n.indexOf('.') < 0 || n.indexOf('/') < n.indexOf('.')) ? n.split('/').map(s, s.replace('.', '/')).join('.') : n)"
		allowed := "[" + norm + "].exists(x, " + celNamed("x", a.names, a.prefixes) + ")"
		ok := "[s.?name.orValue('')].all(n, " + allowed + ")"
		max := strconv.Itoa(MaxListedValues)
		fix := "only " + quoteList(a.source) + " may be set"
		return []CELCheck{{
			Expression: list + ".all(s, " + ok + ")",
			MessageExpression: "[" + list + ".transformList(i, s, !" + ok + ", i)].map(b, size(b) == 1 ? " + CELSpecPath +
				" + '.securityContext.sysctls[' + string(b[0]) + '].name: the pod sets sysctl ' + " + celQuote(list+"[b[0]].name") + " + " + celText("; "+fix+"; remove it") +
				" : " + CELSpecPath + " + '.securityContext.sysctls: the pod sets ' + string(size(b)) + ' sysctls that are not allowed: ' + b.transformList(k, i, k < " + max +
				", " + celQuote(list+"[i].name") + ").join(', ') + (size(b) > " + max + " ? ', … (' + string(size(b) - " + max + ") + ' more)' : '') + " +
				celText("; "+fix+"; remove them") + ")[0]",
			Exact: true,
		}}
	},
})

// The sysctl name syntax the API server validates (k8s.io/kubernetes pkg/apis/core/validation):
// segments of lower-case letters, digits, '-' and '_', separated by '.' or '/'. A pattern is a
// name's start: whole segments and the start of one, then '*'.
const (
	sysctlSegment   = `[a-z0-9]([-_a-z0-9]*[a-z0-9])?`
	sysctlMaxLength = 253
)

var (
	sysctlNameRE    = regexp.MustCompile(`^(` + sysctlSegment + `[./])*` + sysctlSegment + `$`)
	sysctlPatternRE = regexp.MustCompile(`^(` + sysctlSegment + `[./])*([a-z0-9][-_a-z0-9]*)?\*$`)
)

// sysctlAllowlist is the compiled spec.containers.allowedSysctls, normalized to '.' separators.
type sysctlAllowlist struct {
	source   []string
	all      bool
	names    []string
	prefixes []string
}

// allows compares the pod's name as the kubelet reads it, without building the normalized string.
func (a *sysctlAllowlist) allows(name string) bool {
	swap := sysctlSlashFirst(name)
	for _, n := range a.names {
		if len(n) == len(name) && sysctlHasPrefix(name, n, swap) {
			return true
		}
	}
	for _, p := range a.prefixes {
		if sysctlHasPrefix(name, p, swap) {
			return true
		}
	}
	return false
}

// sysctlSlashFirst reports whether the name's first separator is '/', in which case the kubelet
// swaps '/' and '.' throughout (k8s.io/component-helpers/node/util/sysctl.NormalizeName).
func sysctlSlashFirst(name string) bool {
	i := strings.IndexAny(name, "./")
	return i >= 0 && name[i] == '/'
}

// normalizeSysctl is the kubelet's reading of a sysctl name: '.'-separated.
func normalizeSysctl(name string) string {
	if !sysctlSlashFirst(name) {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

// sysctlHasPrefix reports whether name, normalized (swap: its '/' and '.' exchanged), starts with
// the normalized prefix.
func sysctlHasPrefix(name, prefix string, swap bool) bool {
	if len(name) < len(prefix) {
		return false
	}
	if !swap {
		return name[:len(prefix)] == prefix
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch c {
		case '.':
			c = '/'
		case '/':
			c = '.'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
