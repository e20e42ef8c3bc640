package admission

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// Bounds of the what-if warnings on a policy response.
const (
	MaxWhatIfWarnings     = 3
	MaxWhatIfWarningBytes = 512
)

// PolicyValidator serves /validate-policy: it rejects an invalid ClusterAdmissionPolicy or
// PolicyException at `kubectl apply` with every wrong field, using the same validation as files.
type PolicyValidator struct {
	Log logr.Logger
	// Server counts the panics and rejected requests of this webhook, as of the workload webhook;
	// nil counts nothing. Its admission decisions are not counted: those metrics are workloads'.
	Server metrics.ServerRecorder
	// WhatIf, when set, estimates what a valid policy being created, or whose spec changes, would do
	// to the objects already in the cluster; its lines are returned as warnings, at most
	// MaxWhatIfWarnings of at most MaxWhatIfWarningBytes each. It never changes the verdict.
	WhatIf func(ctx context.Context, p *policy.Policy) []string
	// Rules, when set, checks the rule IDs a PolicyException names (engine.UnknownRules).
	Rules *rules.Registry
	// Policies, when set, lets the warnings on a PolicyException say which policies it names would
	// ignore it (from ExceptionNamespace, sealgate's own namespace) or do not exist.
	Policies           PolicySource
	ExceptionNamespace string
	// Now is the clock for an exception's expiry; nil is time.Now.
	Now func() time.Time
}

// serverOnly records a ServerRecorder's events and drops admission decisions and violations.
type serverOnly struct{ metrics.ServerRecorder }

func (serverOnly) Decision(string, time.Duration)                {}
func (serverOnly) Violation(string, string, string, string, int) {}

// ServeHTTP implements http.Handler.
func (v *PolicyValidator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rec metrics.Recorder = metrics.Nop{}
	if v.Server != nil {
		rec = serverOnly{v.Server}
	}
	serve(w, r, v.Log, rec, time.Now, func(ctx context.Context, body []byte) (*admissionv1.AdmissionResponse, string, error) {
		rv, err := DecodeReview(body)
		if err != nil {
			return nil, "", err
		}
		resp, decision := v.Review(ctx, rv.Request)
		return resp, decision, nil
	})
}

// Review validates one policy or exception create or update.
func (v *PolicyValidator) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	if req.Kind.Group != v1alpha1.GroupVersion.Group || (req.Kind.Kind != v1alpha1.Kind && req.Kind.Kind != v1alpha1.ExceptionKind) ||
		(req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return allowed(req.UID, "not a policy create or update"), "skipped"
	}
	if req.Kind.Kind == v1alpha1.ExceptionKind {
		return v.reviewException(req)
	}
	apiVersion := req.Kind.Group + "/" + req.Kind.Version
	p, err := policy.Decode(apiVersion, req.Kind.Kind, req.Object.Raw)
	if err != nil {
		return invalidPolicy(req.UID, err), "denied"
	}
	resp := allowed(req.UID, "")
	if v.WhatIf != nil && (req.Operation == admissionv1.Create || specChanged(apiVersion, req, p)) {
		resp.Warnings = boundWarnings(v.WhatIf(ctx, p))
	}
	return resp, "allowed"
}

// specChanged reports whether an update changes the policy's spec (a label or annotation change
// does not): only a new spec gets a what-if. An old object that does not decode counts as changed.
func specChanged(apiVersion string, req *admissionv1.AdmissionRequest, p *policy.Policy) bool {
	old, err := policy.Decode(apiVersion, req.Kind.Kind, req.OldObject.Raw)
	return err != nil || !apiequality.Semantic.DeepEqual(old.Source.Spec, p.Source.Spec)
}

// boundWarnings keeps at most MaxWhatIfWarnings warnings, each cut to MaxWhatIfWarningBytes
// without splitting a character, ending with "…" where it was cut.
func boundWarnings(ws []string) []string { return boundWarningsN(ws, MaxWhatIfWarnings) }

// boundWarningsN is boundWarnings with at most n warnings.
func boundWarningsN(ws []string, n int) []string {
	if len(ws) > n {
		ws = ws[:n]
	}
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		if len(w) > MaxWhatIfWarningBytes {
			n := MaxWhatIfWarningBytes - len("…")
			for n > 0 && !utf8.RuneStart(w[n]) {
				n--
			}
			w = w[:n] + "…"
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
