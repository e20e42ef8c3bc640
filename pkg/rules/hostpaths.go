package rules

import (
	"path"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// hostPaths implements spec.containers.allowedHostPaths, two checks on hostPath volumes:
//
//   - every hostPath volume's path must be under a listed pathPrefix, compared segment by segment
//     after cleaning ("/var/log" covers "/var/log", "/var/log/" and "/var/log/pods", never
//     "/var/logs"). A path with a ".." segment is denied whatever the prefixes: the API server
//     rejects it, but `sealgate check` reads unvalidated files, and a prefix test on such a path is
//     how PodSecurityPolicy-style allowlists were bypassed. A path that is not absolute (a Windows
//     path included) matches no prefix.
//   - a volume whose path only read-only prefixes cover must be mounted with readOnly: true by every
//     container, init container and ephemeral container that mounts it. As in PodSecurityPolicy and
//     Gatekeeper's k8spsphostfilesystem, a writable prefix that also covers the path wins.
//
// Several offending volumes are one finding at the volumes, several writable mounts of one
// container one finding at its volumeMounts.
//
// Reads: spec.volumes[*].{name,hostPath.path}, spec.{initContainers,containers,ephemeralContainers}[*].volumeMounts[*].{name,readOnly}.
var hostPaths = register(Def[hostPathAllowlist]{
	ID:   "containers.hostPaths",
	Name: "hostPath volumes mount only allowed host paths",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*hostPathAllowlist, field.ErrorList) {
		if s.Containers == nil || s.Containers.AllowedHostPaths == nil {
			return nil, nil
		}
		list := s.Containers.AllowedHostPaths
		lp := spec.Child("containers", "allowedHostPaths")
		var errs field.ErrorList
		if len(list) == 0 {
			errs = append(errs, field.Required(lp, "list at least one path prefix, or leave allowedHostPaths out to leave hostPath volumes unchecked"))
		}
		if len(list) > 64 {
			errs = append(errs, field.TooMany(lp, len(list), 64))
		}
		a := &hostPathAllowlist{prefixes: make([]hostPathPrefix, 0, len(list))}
		text := make([]string, 0, len(list))
		var ro []string
		for i, e := range list {
			p := lp.Index(i).Child("pathPrefix")
			switch {
			case !strings.HasPrefix(e.PathPrefix, "/") || len(e.PathPrefix) > 4096:
				errs = append(errs, field.Invalid(p, e.PathPrefix, `must be an absolute path of at most 4096 bytes, such as "/var/log"`))
			case hasDotDot(e.PathPrefix):
				errs = append(errs, field.Invalid(p, e.PathPrefix, `must not contain ".." segments`))
			default:
				a.prefixes = append(a.prefixes, hostPathPrefix{path: path.Clean(e.PathPrefix), readOnly: e.ReadOnly})
				t := quote(e.PathPrefix)
				if e.ReadOnly {
					t += " (read-only)"
					ro = append(ro, e.PathPrefix)
				}
				text = append(text, t)
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		a.text, a.readOnly = strings.Join(text, ", "), quoteList(ro)
		return a, nil
	},
	Check: func(a *hostPathAllowlist, t *Target, out *Findings) {
		vols := t.Spec.Volumes
		var bad entries
		// The volumes only read-only prefixes allow; few pods have more than a handful, so the
		// buffer keeps a passing pod from allocating.
		var roBuf [8]int
		readOnly := roBuf[:0]
		for i := range vols {
			hp := vols[i].HostPath
			if hp == nil {
				continue
			}
			allowed, ro := a.match(hp.Path)
			switch {
			case !allowed:
				s := ""
				if !bad.full() {
					s = quote(vols[i].Name) + " (" + quote(hp.Path) + ")"
				}
				bad.add(i, s)
			case ro:
				readOnly = append(readOnly, i)
			}
		}
		switch {
		case bad.n == 1:
			v := &vols[bad.index]
			what := "volume " + quote(v.Name) + " mounts host path " + quote(v.HostPath.Path)
			switch p := v.HostPath.Path; {
			case hasDotDot(p):
				what += `, which has ".." segments`
			case !strings.HasPrefix(p, "/"):
				what += ", which is not an absolute path"
			}
			out.Add(Finding{Path: t.Path("volumes["+strconv.Itoa(bad.index)+"]", "hostPath", "path"),
				Message: found(what, "host paths must be under "+a.text+": mount a path under one of them, or use another volume type")})
		case bad.n > 1:
			out.Add(Finding{Path: t.Path("volumes"),
				Message: found(count(bad.n, "volume", "volumes")+" mount host paths that are not allowed: "+bad.plain(),
					"host paths must be under "+a.text+": mount paths under them, or use other volume types")})
		}
		if len(readOnly) == 0 {
			return
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var writable entries
			for j := range c.VolumeMounts {
				m := &c.VolumeMounts[j]
				if m.ReadOnly {
					continue
				}
				for _, v := range readOnly {
					if vols[v].Name != m.Name {
						continue
					}
					s := ""
					if !writable.full() {
						s = quote(m.Name) + " (" + quote(vols[v].HostPath.Path) + ")"
					}
					writable.add(j, s)
					break
				}
			}
			switch {
			case writable.n == 1:
				out.Add(Finding{Path: c.Path("volumeMounts["+strconv.Itoa(writable.index)+"]", "readOnly"), Container: c.Name,
					Message: found(containerOwner(c)+" mounts host path volume "+writable.first[0]+" writable",
						"host paths under "+a.readOnly+" may only be mounted read-only: set readOnly: true on the mount")})
			case writable.n > 1:
				out.Add(Finding{Path: c.Path("volumeMounts"), Container: c.Name,
					Message: found(containerOwner(c)+" mounts "+count(writable.n, "host path volume", "host path volumes")+" writable: "+writable.plain(),
						"host paths under "+a.readOnly+" may only be mounted read-only: set readOnly: true on each mount")})
			}
		}
	},
	CEL: func(a *hostPathAllowlist) []CELCheck { return a.cel() },
})

// hostPathAllowlist is the compiled spec.containers.allowedHostPaths.
type hostPathAllowlist struct {
	prefixes []hostPathPrefix
	// text renders the prefixes for messages: "/var/log" (read-only), "/data"; readOnly the
	// read-only ones: "/var/log".
	text, readOnly string
}

type hostPathPrefix struct {
	// path is clean and absolute.
	path     string
	readOnly bool
}

// match reports whether a prefix covers the host path p, and whether only read-only ones do.
func (a *hostPathAllowlist) match(p string) (allowed, readOnly bool) {
	if !strings.HasPrefix(p, "/") || hasDotDot(p) {
		return false, false
	}
	// Clean returns p itself, without allocating, when p is clean or only loses a trailing part.
	p = path.Clean(p)
	for _, x := range a.prefixes {
		if !underPath(p, x.path) {
			continue
		}
		if !x.readOnly {
			return true, false
		}
		allowed, readOnly = true, true
	}
	return allowed, readOnly
}

// underPath reports whether the clean path p is prefix or under it, segment by segment.
func underPath(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// hasDotDot reports whether p has a ".." segment.
func hasDotDot(p string) bool {
	for p != "" {
		seg, rest, _ := strings.Cut(p, "/")
		if seg == ".." {
			return true
		}
		p = rest
	}
	return false
}
