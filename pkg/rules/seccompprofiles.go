package rules

import (
	"path"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// seccompProfiles implements spec.containers.allowedLocalhostProfiles: a seccompProfile of type
// Localhost, on the pod or on any container, init container or ephemeral container, must name a
// listed localhostProfile: exactly, or by a prefix ending in "*"; "*" alone allows every one. The
// pod's value is cleaned first ("./a.json" is "a.json", as the kubelet joins it under its seccomp
// directory); one with a ".." segment, or absolute, matches nothing (the API server rejects both).
// Every Localhost profile is checked where it is set, the pod's included although containers may
// override it: the kubelet applies the pod's profile to the pod sandbox.
//
// The annotations seccomp.security.alpha.kubernetes.io/pod and
// container.seccomp.security.alpha.kubernetes.io/<name> are not read: since Kubernetes 1.27 the
// kubelet ignores them and the API server no longer copies them to the fields (it only warns that
// they are non-functional).
//
// Reads: spec.securityContext.seccompProfile, spec.{initContainers,containers,ephemeralContainers}[*].securityContext.seccompProfile.
var seccompProfiles = register(Def[localhostProfiles]{
	ID:   "containers.seccompProfiles",
	Name: "Localhost seccomp profiles are allowed ones",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*localhostProfiles, field.ErrorList) {
		if s.Containers == nil || s.Containers.AllowedLocalhostProfiles == nil {
			return nil, nil
		}
		list := s.Containers.AllowedLocalhostProfiles
		lp := spec.Child("containers", "allowedLocalhostProfiles")
		var errs field.ErrorList
		if len(list) == 0 {
			errs = append(errs, field.Required(lp, "list at least one profile, or leave allowedLocalhostProfiles out to leave Localhost profiles unchecked"))
		}
		if len(list) > 64 {
			errs = append(errs, field.TooMany(lp, len(list), 64))
		}
		lh := &localhostProfiles{source: list}
		for i, e := range list {
			body, prefix := strings.CutSuffix(e, "*")
			switch {
			case e == "*":
				lh.all = true
			case !validProfileName(body, prefix):
				errs = append(errs, field.Invalid(lp.Index(i), e,
					`must be a clean relative path such as "profiles/audit.json" (no "..", at most 4095 bytes), a prefix of one ending in "*", or "*"`))
			case prefix:
				lh.prefixes = append(lh.prefixes, body)
			default:
				lh.names = append(lh.names, body)
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return lh, nil
	},
	Check: func(lh *localhostProfiles, t *Target, out *Findings) {
		if lh.all {
			return
		}
		if sc := t.Spec.SecurityContext; sc != nil && !lh.allows(sc.SeccompProfile) {
			out.Add(Finding{Path: t.Path("securityContext", "seccompProfile", "localhostProfile"),
				Message: found("the pod "+lh.uses(sc.SeccompProfile), lh.fix())})
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if sc := c.SecurityContext; sc != nil && !lh.allows(sc.SeccompProfile) {
				out.Add(Finding{Path: c.Path("securityContext", "seccompProfile", "localhostProfile"), Container: c.Name,
					Message: found(containerOwner(c)+" "+lh.uses(sc.SeccompProfile), lh.fix())})
			}
		}
	},
	CEL: func(lh *localhostProfiles) []CELCheck {
		if lh.all {
			return nil
		}
		// allowed is true of a seccompProfile sp not of type Localhost, or naming an allowed
		// profile once cleaned: without "." and empty segments (path.Clean, given no ".." and no
		// leading "/").
		clean := "[n.split('/').filter(s, s != '' && s != '.')].map(g, size(g) == 0 ? '.' : g.join('/'))[0]"
		match := "[" + clean + "].exists(x, " + celNamed("x", lh.names, lh.prefixes) + ")"
		allowed := func(sp string) string {
			return "(" + sp + ".?type.orValue('') != 'Localhost' || " + sp + ".?localhostProfile.orValue('') != '' && [" + sp + ".localhostProfile].all(n, " +
				"!n.startsWith('/') && !n.split('/').exists(s, s == '..') && " + match + "))"
		}
		uses := func(sp string) string {
			return "(" + sp + ".?localhostProfile.orValue('') == '' ? ' sets seccompProfile type Localhost without a localhostProfile' : " +
				"' uses the Localhost seccomp profile ' + " + celQuote(sp+".localhostProfile") + ") + " + celText("; "+lh.fix())
		}
		pod := CELSpec + ".?securityContext.?seccompProfile"
		out := []CELCheck{{
			Expression: "!" + pod + ".hasValue() || [" + pod + ".value()].all(sp, " + allowed("sp") + ")",
			MessageExpression: "[" + pod + ".value()].map(sp, " + CELSpecPath + " + '.securityContext.seccompProfile.localhostProfile: the pod' + " +
				uses("sp") + ")[0]",
			Exact: true,
		}}
		own := "c.?securityContext.?seccompProfile"
		return append(out, celEach(celLists, "!"+own+".hasValue() || ["+own+".value()].all(sp, "+allowed("sp")+")", func(path string) string {
			return "[" + own + ".value()].map(sp, " + path + " + '.securityContext.seccompProfile.localhostProfile: ' + " + celOwner + " + " + uses("sp") + ")[0]"
		}, "", true)...)
	},
})

// localhostProfiles is the compiled spec.containers.allowedLocalhostProfiles.
type localhostProfiles struct {
	source   []string
	all      bool
	names    []string
	prefixes []string
}

// allows reports whether the profile is not Localhost, or names an allowed profile.
func (lh *localhostProfiles) allows(sp *corev1.SeccompProfile) bool {
	if sp == nil || sp.Type != corev1.SeccompProfileTypeLocalhost {
		return true
	}
	if sp.LocalhostProfile == nil {
		return false
	}
	name := *sp.LocalhostProfile
	if name == "" || strings.HasPrefix(name, "/") || hasDotDot(name) {
		return false
	}
	// Clean returns name itself, without allocating, when it is already clean.
	name = path.Clean(name)
	for _, n := range lh.names {
		if name == n {
			return true
		}
	}
	for _, p := range lh.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// uses says what a disallowed Localhost profile is, after "the pod" or the container.
func (lh *localhostProfiles) uses(sp *corev1.SeccompProfile) string {
	if sp.LocalhostProfile == nil || *sp.LocalhostProfile == "" {
		return "sets seccompProfile type Localhost without a localhostProfile"
	}
	return "uses the Localhost seccomp profile " + quote(*sp.LocalhostProfile)
}

func (lh *localhostProfiles) fix() string {
	return "only the Localhost profiles " + quoteList(lh.source) + " are allowed: name one of them, or use type RuntimeDefault"
}

// validProfileName reports whether a policy entry (without its "*") is a clean relative path, or,
// for a prefix, the start of one: empty, or ending in "/" after a clean path.
func validProfileName(body string, prefix bool) bool {
	if len(body) > 4095 || strings.HasPrefix(body, "/") || hasDotDot(body) || strings.Contains(body, "*") {
		return false
	}
	if prefix {
		if body == "" {
			return true
		}
		body = strings.TrimSuffix(body, "/")
	}
	return body != "" && body != "." && path.Clean(body) == body
}
