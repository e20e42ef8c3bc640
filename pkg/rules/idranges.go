package rules

import (
	"math"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The ID range knobs, spec.containers.{runAsUser,runAsGroup,fsGroup,supplementalGroups}, are four
// rules (runasuser.go, runasgroup.go, fsgroup.go, supplementalgroups.go) with one meaning, that of
// a PodSecurityPolicy's MustRunAs: the ID must be set, and in one of the ranges. This file holds
// what they share: the compiled ranges and the check of a container's effective ID.

// maxIDRanges bounds each knob's list of ranges, as the CRD schema does.
const maxIDRanges = 64

// idRanges is one compiled knob: the ranges, and how messages write them ("100-200, 1000").
type idRanges struct {
	ranges []v1alpha1.IDRange
	text   string
}

// allows reports whether a range holds id.
func (r *idRanges) allows(id int64) bool {
	for _, x := range r.ranges {
		if x.Min <= id && id <= x.Max {
			return true
		}
	}
	return false
}

// compileIDRanges validates one knob, with paths under path, and compiles it; nil when the knob is
// not set. IDs are those the API server accepts, 0 to 2^31-1.
func compileIDRanges(r *v1alpha1.IDRanges, path *field.Path) (*idRanges, field.ErrorList) {
	if r == nil {
		return nil, nil
	}
	rp := path.Child("ranges")
	var errs field.ErrorList
	switch {
	case len(r.Ranges) == 0:
		errs = append(errs, field.Required(rp, "list at least one range {min, max}, or leave "+path.String()+" out"))
	case len(r.Ranges) > maxIDRanges:
		errs = append(errs, field.TooMany(rp, len(r.Ranges), maxIDRanges))
	}
	text := make([]string, len(r.Ranges))
	for i, x := range r.Ranges {
		for _, v := range [...]struct {
			name string
			id   int64
		}{{"min", x.Min}, {"max", x.Max}} {
			if v.id < 0 || v.id > math.MaxInt32 {
				errs = append(errs, field.Invalid(rp.Index(i).Child(v.name), v.id, "must be between 0 and 2147483647"))
			}
		}
		if x.Min > x.Max {
			errs = append(errs, field.Invalid(rp.Index(i).Child("max"), x.Max, "must be at least min ("+strconv.FormatInt(x.Min, 10)+")"))
		}
		text[i] = strconv.FormatInt(x.Min, 10)
		if x.Max != x.Min {
			text[i] += "-" + strconv.FormatInt(x.Max, 10)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &idRanges{ranges: r.Ranges, text: strings.Join(text, ", ")}, nil
}

// containerIDField is runAsUser or runAsGroup: a field of both the container's and the pod's
// securityContext, the container's taking precedence, as the kubelet applies them.
type containerIDField struct {
	name string // "runAsUser"
	noun string // "user", in "user IDs"
	// unset says where the ID comes from when neither sets it, after "so it runs ...".
	unset     string
	container func(*corev1.SecurityContext) *int64
	pod       func(*corev1.PodSecurityContext) *int64
}

// checkContainerIDs reports every container whose effective ID is unset or outside the ranges:
// at the container's field when it sets one or neither does, at the pod's when it inherits it.
// Windows pods are exempt: the API server rejects these fields on them.
func checkContainerIDs(r *idRanges, f *containerIDField, t *Target, out *Findings) {
	if windowsPod(t.Spec) {
		return
	}
	var podID *int64
	if t.Spec.SecurityContext != nil {
		podID = f.pod(t.Spec.SecurityContext)
	}
	for i := range t.Containers() {
		c := &t.Containers()[i]
		var id *int64
		if c.SecurityContext != nil {
			id = f.container(c.SecurityContext)
		}
		switch {
		case id != nil:
			if r.allows(*id) {
				continue
			}
			out.Add(Finding{Path: c.Path("securityContext", f.name), Container: c.Name,
				Message: found(containerOwner(c)+" sets "+f.name+": "+strconv.FormatInt(*id, 10),
					"the allowed "+f.noun+" IDs are "+r.text+": set securityContext."+f.name+" to one of them")})
		case podID != nil:
			if r.allows(*podID) {
				continue
			}
			out.Add(Finding{Path: t.Path("securityContext", f.name), Container: c.Name,
				Message: found(containerOwner(c)+" runs as "+f.noun+" "+strconv.FormatInt(*podID, 10)+", set by the pod's securityContext."+f.name,
					"the allowed "+f.noun+" IDs are "+r.text+": set the pod's or the container's securityContext."+f.name+" to one of them")})
		default:
			out.Add(Finding{Path: c.Path("securityContext", f.name), Container: c.Name,
				Message: found(containerOwner(c)+" sets no "+f.name+", nor does the pod, so it runs "+f.unset,
					"set securityContext."+f.name+" on the container or the pod; the allowed "+f.noun+" IDs are "+r.text)})
		}
	}
}

// cel is the CEL of allows: true when the int expression id is in a range.
func (r *idRanges) cel(id string) string {
	parts := make([]string, len(r.ranges))
	for i, x := range r.ranges {
		lo, hi := strconv.FormatInt(x.Min, 10), strconv.FormatInt(x.Max, 10)
		parts[i] = "(" + id + " >= " + lo + " && " + id + " <= " + hi + ")"
		if x.Min == x.Max {
			parts[i] = id + " == " + lo
		}
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// celContainerIDs is the CEL of checkContainerIDs. IDs are never negative, so -1 stands for unset,
// which no range holds.
func celContainerIDs(r *idRanges, f *containerIDField) []CELCheck {
	own := "c.?securityContext.?" + f.name
	pod := CELSpec + ".?securityContext.?" + f.name
	allowed := "[" + own + ".or(" + pod + ").orValue(-1)].exists(id, " + r.cel("id") + ")"
	field := celText(".securityContext." + f.name + ": ")
	return celEach(celLists, allowed, func(path string) string {
		return "(" + own + ".hasValue() ? " + path + " + " + field + " + " + celOwner + " + " + celText(" sets "+f.name+": ") +
			" + string(" + own + ".value()) + " +
			celText("; the allowed "+f.noun+" IDs are "+r.text+": set securityContext."+f.name+" to one of them") +
			" : " + pod + ".hasValue() ? " + CELSpecPath + " + " + field + " + " + celOwner + " + " + celText(" runs as "+f.noun+" ") +
			" + string(" + pod + ".value()) + " +
			celText(", set by the pod's securityContext."+f.name+"; the allowed "+f.noun+" IDs are "+r.text+
				": set the pod's or the container's securityContext."+f.name+" to one of them") +
			" : " + path + " + " + field + " + " + celOwner + " + " +
			celText(" sets no "+f.name+", nor does the pod, so it runs "+f.unset+"; set securityContext."+f.name+
				" on the container or the pod; the allowed "+f.noun+" IDs are "+r.text) + ")"
	}, celWindows, true)
}
