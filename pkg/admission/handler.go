// Package admission is the webhook front end: AdmissionReview in, AdmissionResponse out.
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/workload"
)

// PolicySource supplies the policies in force.
type PolicySource interface {
	// Policies returns the compiled policies, or an error when they are not loaded.
	Policies() ([]*policy.Policy, error)
}

// StaticPolicies is a PolicySource fixed at start-up (from --policy-file).
type StaticPolicies []*policy.Policy

// Policies implements PolicySource.
func (s StaticPolicies) Policies() ([]*policy.Policy, error) { return s, nil }

// skippedSubresources are the pod subresources that carry no pod spec change worth checking. Every
// other subresource, pods/ephemeralcontainers and pods/resize among them, is checked.
var skippedSubresources = map[string]bool{
	"exec": true, "attach": true, "log": true, "portforward": true, "proxy": true,
	"binding": true, "eviction": true, "status": true,
}

// Handler serves /validate. Its dependencies are injected; Defaults fills the optional ones.
type Handler struct {
	Engine   *engine.Engine
	Policies PolicySource
	Metrics  metrics.Recorder
	Log      logr.Logger
	Now      func() time.Time
	// CustomKinds are the custom resources that carry pods the handler evaluates besides the core
	// kinds; Defaults sets the built-in table (workload.BuiltinCustomKinds).
	CustomKinds workload.CustomKinds
}

// Defaults fills optional fields and checks the required ones.
func (h *Handler) Defaults() error {
	if h.Engine == nil || h.Policies == nil {
		return errors.New("admission handler needs an engine and a policy source")
	}
	if h.Metrics == nil {
		h.Metrics = metrics.Nop{}
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	if h.CustomKinds == nil {
		h.CustomKinds = workload.BuiltinCustomKinds
	}
	return nil
}

// ServeHTTP decodes the AdmissionReview, evaluates it and writes the response. A request that is not
// a well-formed AdmissionReview gets a 400 and nothing else happens.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve(w, r, h.Log, h.Metrics, h.Now, func(ctx context.Context, body []byte) (*admissionv1.AdmissionResponse, string, error) {
		req, err := decodeRequest(body)
		if err != nil {
			return nil, "", err
		}
		resp, decision := h.review(ctx, req)
		return resp, decision, nil
	})
}

// ReviewBody decodes an AdmissionReview body and evaluates it, as ServeHTTP does without HTTP. An
// error means the body is not a well-formed AdmissionReview.
func (h *Handler) ReviewBody(ctx context.Context, body []byte) (*admissionv1.AdmissionResponse, string, error) {
	req, err := decodeRequest(body)
	if err != nil {
		return nil, "", err
	}
	resp, decision := h.review(ctx, req)
	return resp, decision, nil
}

// Review evaluates one admission request whose objects are raw JSON.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse, decision string) {
	r := &request{AdmissionRequest: *req, kindSeen: true,
		gvk: schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}}
	return h.review(ctx, r)
}

// review evaluates one decoded request. decision is "allowed", "denied", "skipped" or "error".
func (h *Handler) review(ctx context.Context, req *request) (resp *admissionv1.AdmissionResponse, decision string) {
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return allowed(req.UID, "sealgate checks only CREATE and UPDATE"), "skipped"
	}
	if skippedSubresources[req.SubResource] {
		return allowed(req.UID, "sealgate does not check the "+req.SubResource+" subresource"), "skipped"
	}
	gvk := req.gvk
	if _, ok := workload.Lookup(gvk); !ok {
		// Core kinds first: the custom kinds are a rarer case and cost a table scan.
		if _, ok := h.CustomKinds.Lookup(gvk); !ok {
			return allowed(req.UID, fmt.Sprintf("sealgate does not check %s", gvk)), "skipped"
		}
	}
	w, old, err := req.workloads(h.CustomKinds)
	if errors.Is(err, workload.ErrNotWorkload) {
		// A custom object with nothing at its pod spec path (an Argo Rollout with spec.workloadRef):
		// the workload it refers to is admitted, and checked, on its own.
		k, _ := h.CustomKinds.Lookup(gvk)
		return allowed(req.UID, fmt.Sprintf("sealgate does not check this %s: it has no %s; the workload it refers to is checked on its own",
			gvk.Kind, k.SpecPath)), "skipped"
	}
	if err == nil && w == nil {
		err = errors.New("the request has no object")
	}
	if err != nil {
		return badObject(req.UID, err), "error"
	}
	if req.Operation == admissionv1.Update && Unchanged(w, old) {
		// Scaling, relabelling or finalizers must never wedge an object that predates a policy.
		return allowed(req.UID, "pod spec unchanged"), "skipped"
	}
	policies, err := h.Policies.Policies()
	if err != nil {
		return internalError(req.UID, fmt.Errorf("policies are not loaded: %w", err)), "error"
	}
	res := h.Engine.Evaluate(ctx, policies, w, req.Namespace)
	var what string
	if len(res.Violations) > 0 || len(res.Omitted) > 0 {
		// Only a response that reports something names the object; the common case skips the formatting.
		what = describe(gvk.Kind, req.Namespace, req.Name, w)
	}
	audit := auditAnnotation(res)
	if req.DryRun == nil || !*req.DryRun {
		// A dry run gets the same verdict but leaves no trace in the audit log or metrics.
		h.record(res, what)
	}
	resp = verdict(req.UID, what, res, audit)
	if !resp.Allowed {
		return resp, "denied"
	}
	return resp, "allowed"
}

// Unchanged reports whether an UPDATE leaves the pod spec and the pod metadata the rules read (the
// annotations) as they were. An undecodable old object counts as changed, so the new one is checked.
func Unchanged(w, old *workload.Workload) bool {
	if old == nil {
		return false
	}
	return equality.Semantic.DeepEqual(old.Spec, w.Spec) &&
		equality.Semantic.DeepEqual(old.Template.Annotations, w.Template.Annotations)
}

// record counts every violation in the metrics, listed or only counted (their labels are policy
// and rule names, bounded by the policy set; a waived one is counted with decision "excepted"), and
// logs the Audit and waived violations: at most engine.MaxLogViolations of them in
// engine.MaxLogBytes, with the count of those not logged.
func (h *Handler) record(res *engine.Result, what string) {
	for _, v := range res.Violations {
		// A violation several rules flagged counts for each: the metric is per rule.
		v.Rules(func(rule string) { h.Metrics.Violation(v.Policy, rule, string(v.Mode), caused(v.Mode, v.Excepted), 1) })
	}
	for _, o := range res.Omitted {
		h.Metrics.Violation(o.Policy, o.Rule, string(o.Mode), caused(o.Mode, o.Excepted), o.Count)
	}
	logged := audited(res)
	omitted := res.OmittedCount(v1alpha1.ModeAudit) + res.ExceptedOmitted()
	if len(logged) == 0 && omitted == 0 {
		return
	}
	text, n := violationsJSON(logged, engine.MaxLogViolations, engine.MaxLogBytes)
	h.Log.Info("audit violations", "object", what, "violations", json.RawMessage(text),
		"omitted", len(logged)+omitted-n)
}

// caused is what a violation of mode m does to the request, the metric's decision label: "excepted"
// when an exception waives it.
func caused(m v1alpha1.Mode, excepted string) string {
	if excepted != "" {
		return "excepted"
	}
	switch m {
	case v1alpha1.ModeWarn:
		return "warned"
	case v1alpha1.ModeAudit:
		return "audited"
	}
	return "denied"
}

// describe names the object for messages: `Deployment "web" in namespace "prod"`.
func describe(kind, namespace, name string, w *workload.Workload) string {
	if name == "" {
		name = w.Object.Name
	}
	if name == "" && w.Object.GenerateName != "" {
		name = w.Object.GenerateName + "*"
	}
	if namespace == "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s %q in namespace %q", kind, name, namespace)
}
