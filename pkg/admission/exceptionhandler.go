package admission

import (
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Bounds of the warnings on an exception: the expiry, up to maxIgnoredWarnings policies that
// ignore it and a line for more, and the policies that do not exist.
const (
	maxIgnoredWarnings   = 3
	maxExceptionWarnings = maxIgnoredWarnings + 3
)

// reviewException validates one PolicyException create or update with the same validation as
// exception files, every wrong field with its path; the rules it names are checked against the
// rules this sealgate has. A valid exception that would not apply (a policy it names ignores it, it
// has expired, a policy it names does not exist) is admitted with warnings that say so.
func (v *PolicyValidator) reviewException(req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	apiVersion := req.Kind.Group + "/" + req.Kind.Version
	x, err := policy.DecodeException(apiVersion, req.Kind.Kind, req.Object.Raw, req.Namespace)
	if err == nil && v.Rules != nil {
		err = engine.ValidateExceptions(v.Rules, []*policy.Exception{x})
	}
	if err != nil {
		return invalidPolicy(req.UID, err), "denied"
	}
	resp := allowed(req.UID, "")
	resp.Warnings = boundWarningsN(v.exceptionWarnings(x), maxExceptionWarnings)
	return resp, "allowed"
}

// exceptionWarnings says why a valid exception would not apply, as far as the policies in force tell.
func (v *PolicyValidator) exceptionWarnings(x *policy.Exception) []string {
	var out []string
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if x.Expired(now) {
		out = append(out, fmt.Sprintf("sealgate: exception %q expired at %s (spec.expires) and waives nothing", x.ID(), x.Expires.UTC().Format(time.RFC3339)))
	}
	if v.Policies == nil {
		return out
	}
	ps, err := v.Policies.Policies()
	if err != nil {
		return out
	}
	byName := make(map[string]*policy.Policy, len(ps))
	for _, p := range ps {
		byName[p.Name] = p
	}
	ignored, missing := x.Acceptance(func(name string) *policy.Policy { return byName[name] }, v.ExceptionNamespace)
	for i, why := range ignored {
		if i == maxIgnoredWarnings {
			out = append(out, fmt.Sprintf("sealgate: … and %d more policies ignore this exception", len(ignored)-i))
			break
		}
		out = append(out, "sealgate: this exception is ignored: "+why)
	}
	if len(missing) > 0 {
		names := strings.Join(quoted(missing[:min(len(missing), maxIgnoredWarnings)]), ", ")
		if more := len(missing) - maxIgnoredWarnings; more > 0 {
			names += fmt.Sprintf(" (and %d more)", more)
		}
		out = append(out, fmt.Sprintf("sealgate: no policy named %s is in force; the exception applies to it once one is (spec.policies)", names))
	}
	return out
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
