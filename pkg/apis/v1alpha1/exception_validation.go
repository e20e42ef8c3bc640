package v1alpha1

import (
	"fmt"
	"regexp"
	"slices"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/workload"
)

// Limits of a PolicyException, the same as the CRD schema's, so that exceptions from files are held
// to them too.
const (
	MaxExceptionReasonBytes = 1024
	maxExceptionPolicies    = 64
	maxExceptionRules       = 64
	maxExceptionRuleBytes   = 128
	maxExceptionPatterns    = 64
	maxExceptionKinds       = 16
	maxAllowedNamespaces    = 64
)

var (
	// ruleID is a rule ID or family: dot-separated words, "podSecurity", "containers.privileged".
	ruleID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$`)
	// Globs: the characters of the names they match, plus '*' and '?'.
	labelGlob     = regexp.MustCompile(`^[a-z0-9*?-]+$`)
	subdomainGlob = regexp.MustCompile(`^[a-z0-9.*?-]+$`)
)

// Validate returns every problem with the exception at once, each with the path of the field that
// is wrong. Nothing in an exception has a default, so it needs no Default first.
func (x *PolicyException) Validate() field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if x.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), "an exception needs a name"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(x.Name) {
			errs = append(errs, field.Invalid(meta.Child("name"), x.Name, msg))
		}
	}
	if x.Namespace == "" {
		errs = append(errs, field.Required(meta.Child("namespace"),
			"PolicyException is namespaced; put it in a namespace the policies accept exceptions from (by default sealgate's own)"))
	} else {
		for _, msg := range validation.IsDNS1123Label(x.Namespace) {
			errs = append(errs, field.Invalid(meta.Child("namespace"), x.Namespace, msg))
		}
	}
	spec := field.NewPath("spec")
	s := &x.Spec
	switch {
	case s.Reason == "":
		errs = append(errs, field.Required(spec.Child("reason"), "say why the exception exists; it is shown with every violation it waives"))
	case len(s.Reason) > MaxExceptionReasonBytes:
		errs = append(errs, field.TooLong(spec.Child("reason"), "", MaxExceptionReasonBytes))
	}
	pp := spec.Child("policies")
	if len(s.Policies) == 0 {
		errs = append(errs, field.Required(pp, "name at least one policy, with the rules of it to waive"))
	}
	errs = append(errs, tooMany(pp, len(s.Policies), maxExceptionPolicies)...)
	seen := map[string]bool{}
	for i := range s.Policies {
		p := &s.Policies[i]
		path := pp.Index(i)
		switch {
		case p.Name == "":
			errs = append(errs, field.Required(path.Child("name"), "name the ClusterAdmissionPolicy"))
		case seen[p.Name]:
			errs = append(errs, field.Duplicate(path.Child("name"), p.Name))
		default:
			for _, msg := range validation.IsDNS1123Subdomain(p.Name) {
				errs = append(errs, field.Invalid(path.Child("name"), p.Name, msg))
			}
		}
		seen[p.Name] = true
		errs = append(errs, validateRuleIDs(p.Rules, path.Child("rules"))...)
	}
	errs = append(errs, validateExceptionMatch(&s.Match, spec.Child("match"))...)
	return errs
}

func validateRuleIDs(ids []string, path *field.Path) field.ErrorList {
	errs := tooMany(path, len(ids), maxExceptionRules)
	for i, id := range ids {
		switch {
		case id == "":
			errs = append(errs, field.Required(path.Index(i), `name a rule ID ("containers.privileged") or family ("podSecurity"), or leave rules out to waive every rule of the policy`))
		case len(id) > maxExceptionRuleBytes:
			errs = append(errs, field.TooLong(path.Index(i), "", maxExceptionRuleBytes))
		case !ruleID.MatchString(id):
			errs = append(errs, field.Invalid(path.Index(i), id,
				`must be a rule ID such as "containers.privileged" or a family such as "podSecurity": words separated by dots`))
		case slices.Contains(ids[:i], id):
			errs = append(errs, field.Duplicate(path.Index(i), id))
		}
	}
	return errs
}

func validateExceptionMatch(m *ExceptionMatch, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateGlobs(m.Namespaces, path.Child("namespaces"), labelGlob, validation.DNS1123LabelMaxLength, "namespace")...)
	errs = append(errs, validateGlobs(m.Names, path.Child("names"), subdomainGlob, validation.DNS1123SubdomainMaxLength, "object name")...)
	errs = append(errs, validateGlobs(m.Containers, path.Child("containers"), labelGlob, validation.DNS1123LabelMaxLength, "container name")...)
	kp := path.Child("kinds")
	errs = append(errs, tooMany(kp, len(m.Kinds), maxExceptionKinds)...)
	for i, k := range m.Kinds {
		if !podBearingKind(k) {
			errs = append(errs, field.NotSupported(kp.Index(i), k, podBearingKinds()))
		} else if slices.Contains(m.Kinds[:i], k) {
			errs = append(errs, field.Duplicate(kp.Index(i), k))
		}
	}
	if m.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(m.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
	}
	ip := path.Child("images")
	errs = append(errs, tooMany(ip, len(m.Images), maxExceptionPatterns)...)
	errs = append(errs, validatePatterns(m.Images, ip)...)
	return errs
}

// validateGlobs checks globs of names: the characters of those names plus '*' and '?'.
func validateGlobs(globs []string, path *field.Path, chars *regexp.Regexp, maxLen int, what string) field.ErrorList {
	errs := tooMany(path, len(globs), maxExceptionPatterns)
	for i, g := range globs {
		switch {
		case g == "":
			errs = append(errs, field.Required(path.Index(i), fmt.Sprintf("write a %s or a glob such as %q, or leave the list out", what, "web-*")))
		case len(g) > maxLen:
			errs = append(errs, field.TooLong(path.Index(i), "", maxLen))
		case !chars.MatchString(g):
			errs = append(errs, field.Invalid(path.Index(i), g,
				fmt.Sprintf("must be a %s, lower case, where '*' matches any run of characters and '?' one character", what)))
		}
	}
	return errs
}

func podBearingKind(k string) bool {
	return slices.Contains(podBearingKinds(), k)
}

func podBearingKinds() []string {
	out := make([]string, 0, len(workload.Kinds))
	for _, k := range workload.Kinds {
		out = append(out, k.GVK.Kind)
	}
	return out
}

// validateExceptionRules checks a policy's spec.exceptions.
func validateExceptionRules(x *ExceptionRules, path *field.Path) field.ErrorList {
	ap := path.Child("allowedNamespaces")
	errs := tooMany(ap, len(x.AllowedNamespaces), maxAllowedNamespaces)
	if x.Forbid && len(x.AllowedNamespaces) > 0 {
		errs = append(errs, field.Invalid(ap, x.AllowedNamespaces,
			"a policy with forbid: true accepts no exception from anywhere; remove allowedNamespaces, or set forbid: false"))
	}
	for i, ns := range x.AllowedNamespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(ap.Index(i), ns, msg))
		}
		if slices.Contains(x.AllowedNamespaces[:i], ns) {
			errs = append(errs, field.Duplicate(ap.Index(i), ns))
		}
	}
	return errs
}
