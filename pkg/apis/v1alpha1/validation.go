package v1alpha1

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"

	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Validate returns every problem with the policy at once, each with the path of the field that is
// wrong. It expects a defaulted policy.
func (p *ClusterAdmissionPolicy) Validate() field.ErrorList {
	var errs field.ErrorList
	if p.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "a policy needs a name"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(p.Name) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), p.Name, msg))
		}
	}
	if p.Namespace != "" {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), p.Namespace,
			"ClusterAdmissionPolicy is cluster-scoped; remove metadata.namespace"))
	}
	spec := field.NewPath("spec")
	s := &p.Spec
	switch s.Mode {
	case ModeEnforce, ModeWarn, ModeAudit:
	default:
		errs = append(errs, field.NotSupported(spec.Child("mode"), s.Mode, []Mode{ModeEnforce, ModeWarn, ModeAudit}))
	}
	errs = append(errs, validateFallback(p, spec.Child("fallback"))...)
	errs = append(errs, validateMatch(&s.Match, spec.Child("match"))...)
	if s.Images != nil {
		ar := spec.Child("images", "allowedRegistries")
		if s.Images.AllowedRegistries != nil && len(s.Images.AllowedRegistries) == 0 {
			errs = append(errs, field.Required(ar, "list at least one pattern, or leave allowedRegistries out to allow every registry"))
		}
		errs = append(errs, tooMany(ar, len(s.Images.AllowedRegistries), 256)...)
		errs = append(errs, validatePatterns(s.Images.AllowedRegistries, ar)...)
	}
	errs = append(errs, tooMany(spec.Child("signatures"), len(s.Signatures), 64)...)
	for i := range s.Signatures {
		errs = append(errs, validateSignatureRule(&s.Signatures[i], spec.Child("signatures").Index(i))...)
	}
	if ps := s.PodSecurity; ps != nil {
		errs = append(errs, validatePodSecurity(ps, spec.Child("podSecurity"))...)
	}
	errs = append(errs, validateKnobs(reflect.ValueOf(s).Elem(), spec)...)
	if r := s.Resources; r != nil {
		errs = append(errs, validateResources(r, spec.Child("resources"))...)
	}
	if x := s.Exceptions; x != nil {
		errs = append(errs, validateExceptionRules(x, spec.Child("exceptions"))...)
	}
	return errs
}

// tooMany enforces the list limits the CRD schema declares, so policy files are held to them too.
func tooMany(path *field.Path, n, limit int) field.ErrorList {
	if n > limit {
		return field.ErrorList{field.TooMany(path, n, limit)}
	}
	return nil
}

func validateMatch(m *Match, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, tooMany(path.Child("excludeNamespaces"), len(m.ExcludeNamespaces), 256)...)
	opts := metav1validation.LabelSelectorValidationOptions{}
	if m.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(m.NamespaceSelector, opts, path.Child("namespaceSelector"))...)
	}
	if m.ObjectSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(m.ObjectSelector, opts, path.Child("objectSelector"))...)
	}
	for i, ns := range m.ExcludeNamespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(path.Child("excludeNamespaces").Index(i), ns, msg))
		}
	}
	return append(errs, validateKinds(m.Kinds, path.Child("kinds"))...)
}

// validateKinds checks spec.match.kinds against the kinds sealgate decodes (workload.Kinds).
func validateKinds(kinds []string, path *field.Path) field.ErrorList {
	if kinds == nil {
		return nil
	}
	if len(kinds) == 0 {
		// Read literally, an empty list would match nothing and the policy would never apply.
		return field.ErrorList{field.Required(path, "list at least one kind, or leave kinds out to match every pod-bearing kind")}
	}
	errs := tooMany(path, len(kinds), 32)
	first := map[schema.GroupKind]int{}
	for i, name := range kinds {
		k, ok := workload.KindNamed(name)
		if !ok {
			e := field.NotSupported(path.Index(i), name, workload.KindNames())
			e.Detail += ` (a kind may be written with its API group, e.g. "apps/Deployment")`
			errs = append(errs, e)
			continue
		}
		gk := k.GVK.GroupKind()
		if j, seen := first[gk]; seen {
			e := field.Duplicate(path.Index(i), name)
			e.Detail = fmt.Sprintf("the same kind as kinds[%d]", j)
			errs = append(errs, e)
			continue
		}
		first[gk] = i
	}
	return errs
}

func validatePatterns(patterns []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, pat := range patterns {
		if _, err := imageref.CompilePattern(pat); err != nil {
			errs = append(errs, field.Invalid(path.Index(i), pat, fmt.Sprintf("invalid pattern: %v", err)))
		}
	}
	return errs
}

func validateSignatureRule(s *SignatureRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Images) == 0 {
		errs = append(errs, field.Required(path.Child("images"), "list the image patterns this rule covers"))
	}
	for i, pat := range s.Images {
		p, err := imageref.CompilePattern(pat)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Child("images").Index(i), pat, fmt.Sprintf("invalid pattern: %v", err)))
		case p.Pinned():
			// A pinned scope would be read as an allowlist reads it (imageref.Pattern.Match), so
			// "app:1.0" would not cover "app:1.0@sha256:..." and that image would go unverified.
			errs = append(errs, field.Invalid(path.Child("images").Index(i), pat,
				"a signature rule covers every tag and digest of the repositories it names; remove the tag or digest"))
		}
	}
	errs = append(errs, tooMany(path.Child("attestors"), len(s.Attestors), 32)...)
	if len(s.Attestors) == 0 {
		errs = append(errs, field.Required(path.Child("attestors"), "list at least one attestor"))
	}
	if s.Threshold < 1 || s.Threshold > len(s.Attestors) && len(s.Attestors) > 0 {
		errs = append(errs, field.Invalid(path.Child("threshold"), s.Threshold,
			fmt.Sprintf("must be between 1 and the number of attestors (%d)", len(s.Attestors))))
	}
	names := map[string]bool{}
	for i := range s.Attestors {
		a := &s.Attestors[i]
		ap := path.Child("attestors").Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), "name the attestor"))
		} else if names[a.Name] {
			errs = append(errs, field.Duplicate(ap.Child("name"), a.Name))
		}
		names[a.Name] = true
		errs = append(errs, validateAttestor(a, ap)...)
	}
	errs = append(errs, duplicateSigners(s.Attestors, path.Child("attestors"))...)
	for i, at := range s.Attestations {
		if at.PredicateType == "" {
			errs = append(errs, field.Required(path.Child("attestations").Index(i).Child("predicateType"), "name the predicate type"))
		}
	}
	if rc := s.RegistryCredentials; rc != nil {
		rp := path.Child("registryCredentials", "secretRef")
		if rc.SecretRef.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "name the Secret"))
		}
		if rc.SecretRef.Namespace == "" {
			errs = append(errs, field.Required(rp.Child("namespace"), "give the Secret's namespace"))
		}
	}
	return errs
}

func validateAttestor(a *Attestor, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := 0
	if a.PublicKey != "" {
		set++
		// The key is parsed as the verifier parses it: a policy that validates must be able to verify.
		if _, err := ParsePublicKey(a.PublicKey); err != nil {
			errs = append(errs, field.Invalid(path.Child("publicKey"), "(key)", err.Error()))
		}
	}
	if r := a.SecretRef; r != nil {
		set++
		if r.Name == "" {
			errs = append(errs, field.Required(path.Child("secretRef", "name"), "name the Secret"))
		}
		if r.Namespace == "" {
			errs = append(errs, field.Required(path.Child("secretRef", "namespace"), "give the Secret's namespace"))
		}
	}
	if k := a.Keyless; k != nil {
		set++
		kp := path.Child("keyless")
		if (k.Issuer == "") == (k.IssuerRegExp == "") {
			errs = append(errs, field.Invalid(kp, "", "set exactly one of issuer and issuerRegExp"))
		}
		if (k.Subject == "") == (k.SubjectRegExp == "") {
			errs = append(errs, field.Invalid(kp, "", "set exactly one of subject and subjectRegExp"))
		}
		for _, f := range [...]struct{ name, re string }{{"issuerRegExp", k.IssuerRegExp}, {"subjectRegExp", k.SubjectRegExp}} {
			name, re := f.name, f.re
			if re == "" {
				continue
			}
			if _, err := regexp.Compile(re); err != nil {
				errs = append(errs, field.Invalid(kp.Child(name), re, err.Error()))
			}
		}
	}
	if set != 1 {
		errs = append(errs, field.Invalid(path, a.Name, "set exactly one of publicKey, secretRef and keyless"))
	}
	switch a.TransparencyLog {
	case "Require", "Ignore":
	default:
		errs = append(errs, field.NotSupported(path.Child("transparencyLog"), a.TransparencyLog, []string{"Require", "Ignore"}))
	}
	if r := a.TrustedRootRef; r != nil {
		n := 0
		for _, set := range []bool{r.ConfigMap != nil, r.Secret != nil, r.File != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(path.Child("trustedRootRef"), "", "set exactly one of configMap, secret and file"))
		}
		for _, ref := range []struct {
			name string
			r    *SecretKeyRef
		}{{"configMap", r.ConfigMap}, {"secret", r.Secret}} {
			if ref.r != nil && (ref.r.Name == "" || ref.r.Namespace == "") {
				errs = append(errs, field.Required(path.Child("trustedRootRef", ref.name), "give the name and namespace"))
			}
		}
	} else if a.Keyless != nil {
		errs = append(errs, field.Required(path.Child("trustedRootRef"),
			"a keyless attestor needs a Sigstore trusted root (trusted_root.json) to verify its certificates; sealgate never fetches one"))
	} else if a.TransparencyLog == "Require" {
		errs = append(errs, field.Required(path.Child("trustedRootRef"),
			"a key attestor with transparencyLog Require needs a Sigstore trusted root whose transparency-log keys verify the log entry"))
	}
	return errs
}

// duplicateSigners reports attestors of one rule that are one signer under two names: the same key
// (compared as parsed, not as text), the same Secret key, or the same keyless identity and trusted
// root. One signature by such a signer would count twice toward the threshold.
func duplicateSigners(atts []Attestor, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	first := map[string]int{}
	for i := range atts {
		a := &atts[i]
		var id, child, what string
		switch {
		case a.PublicKey != "":
			pub, err := ParsePublicKey(a.PublicKey)
			if err != nil {
				continue // reported by validateAttestor
			}
			id, child, what = "key\x00"+PublicKeyID(pub), "publicKey", "the same key as"
		case a.SecretRef != nil:
			r := a.SecretRef
			id = strings.Join([]string{"secret", r.Namespace, r.Name, cmp.Or(r.Key, DefaultSecretKeyName)}, "\x00")
			child, what = "secretRef", "the same Secret key as"
		case a.Keyless != nil:
			k := a.Keyless
			id = strings.Join([]string{"keyless", k.Issuer, k.IssuerRegExp, k.Subject, k.SubjectRegExp, trustedRootID(a.TrustedRootRef)}, "\x00")
			child, what = "keyless", "the same identity and trusted root as"
		default:
			continue
		}
		j, seen := first[id]
		if !seen {
			first[id] = i
			continue
		}
		e := field.Duplicate(path.Index(i).Child(child), field.OmitValueType{})
		e.Detail = fmt.Sprintf("%s attestors[%d]; a threshold counts distinct signers, so list each signer once", what, j)
		errs = append(errs, e)
	}
	return errs
}

// trustedRootID identifies the trusted root a reference names, with the default key filled in.
func trustedRootID(r *TrustedRootRef) string {
	switch {
	case r == nil:
		return ""
	case r.ConfigMap != nil:
		return "configMap/" + r.ConfigMap.Namespace + "/" + r.ConfigMap.Name + "/" + cmp.Or(r.ConfigMap.Key, DefaultTrustedRootKeyName)
	case r.Secret != nil:
		return "secret/" + r.Secret.Namespace + "/" + r.Secret.Name + "/" + cmp.Or(r.Secret.Key, DefaultTrustedRootKeyName)
	}
	return "file/" + r.File
}

func validatePodSecurity(ps *PodSecurity, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := psaapi.ParseLevel(ps.Level); err != nil {
		errs = append(errs, field.NotSupported(path.Child("level"), ps.Level, []string{"privileged", "baseline", "restricted"}))
	}
	if _, err := psaapi.ParseVersion(ps.Version); err != nil {
		errs = append(errs, field.Invalid(path.Child("version"), ps.Version, `must be "latest" or a version such as "v1.37"`))
	}
	return errs
}

func validateResources(r *ResourceRules, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	validName := func(p *field.Path, n corev1.ResourceName) {
		if n == "" {
			errs = append(errs, field.Required(p, "name a resource, e.g. cpu or memory"))
			return
		}
		if !strings.Contains(string(n), "/") {
			for _, msg := range validation.IsDNS1123Subdomain(string(n)) {
				errs = append(errs, field.Invalid(p, n, msg))
			}
		} else {
			for _, msg := range validation.IsQualifiedName(string(n)) {
				errs = append(errs, field.Invalid(p, n, msg))
			}
		}
	}
	for _, list := range []struct {
		name  string
		names []corev1.ResourceName
	}{{"requireRequests", r.RequireRequests}, {"requireLimits", r.RequireLimits}} {
		seen := make(map[corev1.ResourceName]bool, len(list.names))
		for i, n := range list.names {
			validName(path.Child(list.name).Index(i), n)
			if seen[n] {
				// A set: listed twice it would only be reported twice.
				errs = append(errs, field.Duplicate(path.Child(list.name).Index(i), n))
			}
			seen[n] = true
		}
	}
	positive := func(p *field.Path, m map[corev1.ResourceName]resource.Quantity, what string) {
		for _, n := range slices.Sorted(maps.Keys(m)) {
			q := m[n]
			validName(p.Key(string(n)), n)
			if q.Sign() <= 0 {
				errs = append(errs, field.Invalid(p.Key(string(n)), q.String(), what))
			}
		}
	}
	positive(path.Child("maxLimits"), r.MaxLimits, "must be greater than zero")
	positive(path.Child("maxLimitRequestRatio"), r.MaxLimitRequestRatio, "must be greater than zero")
	for _, n := range slices.Sorted(maps.Keys(r.MaxLimitRequestRatio)) {
		q := r.MaxLimitRequestRatio[n]
		if q.Sign() > 0 && q.Cmp(resource.MustParse("1")) < 0 {
			errs = append(errs, field.Invalid(path.Child("maxLimitRequestRatio").Key(string(n)), q.String(),
				"must be at least 1: a limit is never below its request"))
		}
	}
	return errs
}

// validateFallback checks spec.fallback, and that the generated objects' name ("sealgate-" and the
// policy's name) fits the API server's limit of 253 characters.
func validateFallback(p *ClusterAdmissionPolicy, path *field.Path) field.ErrorList {
	switch p.Spec.Fallback {
	case "", FallbackNone:
		return nil
	case FallbackVAP:
		if n := len(fallbackPrefix) + len(p.Name); n > 253 {
			return field.ErrorList{field.Invalid(path, p.Spec.Fallback, fmt.Sprintf(
				"the generated ValidatingAdmissionPolicy is named %q and the policy's name, %d characters, over the limit of 253; "+
					"shorten metadata.name to at most %d characters, or set fallback: None", fallbackPrefix, n, 253-len(fallbackPrefix)))}
		}
		return nil
	}
	return field.ErrorList{field.NotSupported(path, p.Spec.Fallback, []FallbackMode{FallbackNone, FallbackVAP})}
}

// fallbackPrefix starts the name of the objects generated for spec.fallback (vap.Name).
const fallbackPrefix = "sealgate-"
