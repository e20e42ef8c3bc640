package admission

import (
	"context"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
)

// PolicyValidator serves /validate-policy: it rejects an invalid ClusterAdmissionPolicy at
// `kubectl apply` with every wrong field, using the same validation as policy files.
type PolicyValidator struct {
	Log logr.Logger
	// Server counts the panics and rejected requests of this webhook, as of the workload webhook;
	// nil counts nothing. Its admission decisions are not counted: those metrics are workloads'.
	Server metrics.ServerRecorder
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

// Review validates one policy create or update.
func (v *PolicyValidator) Review(_ context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	if req.Kind.Group != v1alpha1.GroupVersion.Group || req.Kind.Kind != v1alpha1.Kind ||
		(req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return allowed(req.UID, "not a policy create or update"), "skipped"
	}
	apiVersion := req.Kind.Group + "/" + req.Kind.Version
	if _, err := policy.Decode(apiVersion, req.Kind.Kind, req.Object.Raw); err != nil {
		return invalidPolicy(req.UID, err), "denied"
	}
	return allowed(req.UID, ""), "allowed"
}
