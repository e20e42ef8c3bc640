package rules

import (
	"strconv"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supplementalGroups implements spec.containers.supplementalGroups: the pod lists at least one
// group in securityContext.supplementalGroups, and every group it lists is in one of the ranges, as
// a PodSecurityPolicy's MustRunAs did. It is a pod-level field, so findings name no container; one
// group out of the ranges is reported at its index, several as one finding at the list. Windows
// pods are exempt: the API server rejects supplementalGroups on them.
//
// Only the pod's list is judged. With supplementalGroupsPolicy Merge (the default), the runtime
// also gives each container the groups the image's /etc/group lists for its user; Strict leaves
// those out.
//
// Reads: spec.os.name, spec.securityContext.supplementalGroups.
// Allowed: a non-empty list, each group within a range.
var supplementalGroups = register(Def[idRanges]{
	ID:   "containers.supplementalGroups",
	Name: "Pods list supplemental groups in the allowed ranges",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*idRanges, field.ErrorList) {
		if s.Containers == nil {
			return nil, nil
		}
		return compileIDRanges(s.Containers.SupplementalGroups, spec.Child("containers", "supplementalGroups"))
	},
	Check: func(r *idRanges, t *Target, out *Findings) {
		if windowsPod(t.Spec) {
			return
		}
		var groups []int64
		if sc := t.Spec.SecurityContext; sc != nil {
			groups = sc.SupplementalGroups
		}
		if len(groups) == 0 {
			out.Add(Finding{Path: t.Path("securityContext", "supplementalGroups"),
				Message: found("the pod lists no securityContext.supplementalGroups",
					"list at least one group in the pod's securityContext.supplementalGroups; the allowed group IDs are "+r.text)})
			return
		}
		var bad entries
		for i, g := range groups {
			if r.allows(g) {
				continue
			}
			v := ""
			if !bad.full() {
				v = strconv.FormatInt(g, 10)
			}
			bad.add(i, v)
		}
		switch {
		case bad.n == 1:
			out.Add(Finding{Path: t.Path("securityContext", "supplementalGroups["+strconv.Itoa(bad.index)+"]"),
				Message: found("the pod lists supplemental group "+bad.first[0],
					"the allowed group IDs are "+r.text+": remove it or replace it with one of them")})
		case bad.n > 1:
			out.Add(Finding{Path: t.Path("securityContext", "supplementalGroups"),
				Message: found("the pod lists "+count(bad.n, "supplemental group", "supplemental groups")+" outside the ranges: "+bad.plain(),
					"the allowed group IDs are "+r.text+": remove them or replace them with allowed ones")})
		}
	},
	CEL: func(r *idRanges) []CELCheck {
		groups := CELSpec + ".?securityContext.?supplementalGroups.orValue([])"
		// bad is the indexes of the groups out of the ranges; a one-entry list's map names it.
		bad := groups + ".transformList(i, g, !" + r.cel("g") + ", i)"
		field := CELSpecPath + " + '.securityContext.supplementalGroups"
		return []CELCheck{{
			Expression: celWindows + " || (size(" + groups + ") > 0 && " + groups + ".all(g, " + r.cel("g") + "))",
			MessageExpression: "size(" + groups + ") == 0 ? " + field + ": ' + " +
				celText("the pod lists no securityContext.supplementalGroups; list at least one group in the pod's securityContext.supplementalGroups; the allowed group IDs are "+r.text) +
				" : [" + bad + "].map(b, size(b) == 1 ? " + field + "[' + string(b[0]) + ']: the pod lists supplemental group ' + string(" + groups + "[b[0]]) + " +
				celText("; the allowed group IDs are "+r.text+": remove it or replace it with one of them") +
				" : " + field + ": the pod lists ' + string(size(b)) + ' supplemental groups outside the ranges: ' + b.transformList(k, i, k < " + strconv.Itoa(MaxListedValues) +
				", string(" + groups + "[i])).join(', ') + (size(b) > " + strconv.Itoa(MaxListedValues) + " ? ', … (' + string(size(b) - " + strconv.Itoa(MaxListedValues) + ") + ' more)' : '') + " +
				celText("; the allowed group IDs are "+r.text+": remove them or replace them with allowed ones") + ")[0]",
			Exact: true,
		}}
	},
})
