// Package webhookconfig renders sealgate's ValidatingWebhookConfiguration: which requests the API
// server sends to sealgate. It is the one definition, used by the manifests under config/, by the
// Helm chart's golden test and by the test suites.
package webhookconfig

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Webhook names inside the configuration.
const (
	WorkloadWebhook = "workloads.sealgate.dev"
	PolicyWebhook   = "policies.sealgate.dev"
	WorkloadPath    = "/validate"
	PolicyPath      = "/validate-policy"
)

// Options say where the webhook is and how the API server treats it.
type Options struct {
	// Name of the ValidatingWebhookConfiguration.
	Name string
	// Namespace sealgate runs in; always excluded, with kube-system.
	Namespace string
	// Service and Port reach sealgate inside the cluster; or URL (e.g. "https://localhost:9443") outside it.
	Service string
	Port    int32
	URL     string
	// CABundle verifies sealgate's serving certificate; empty when a CA injector fills it in.
	CABundle []byte
	// FailurePolicy for workloads: Fail (default) or Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds defaults to 10.
	TimeoutSeconds int32
	// ExcludeNamespaces are excluded as well as Namespace and kube-system.
	ExcludeNamespaces []string
	// NamespaceSelector adds requirements after the exclusion, e.g. to roll out namespace by namespace.
	NamespaceSelector []metav1.LabelSelectorRequirement
}

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = "sealgate"
	}
	if o.Namespace == "" {
		return fmt.Errorf("webhook configuration: namespace is required")
	}
	if (o.URL == "") == (o.Service == "") {
		return fmt.Errorf("webhook configuration: set exactly one of service and url")
	}
	if o.Port == 0 {
		o.Port = 443
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = admissionregistrationv1.Fail
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 10
	}
	return nil
}

// Validating returns the configuration: one webhook for pod-bearing workloads and one for policies
// and PolicyExceptions.
func Validating(o Options) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	excluded := append([]string{"kube-system", o.Namespace}, o.ExcludeNamespaces...)
	workloads := admissionregistrationv1.ValidatingWebhook{
		Name:         WorkloadWebhook,
		ClientConfig: o.client(WorkloadPath),
		Rules:        workloadRules(),
		// Excluded by the name label, which the API server sets and no user can change.
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: append([]metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded}}, o.NamespaceSelector...)},
		FailurePolicy:           ptr.To(o.FailurePolicy),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
		AdmissionReviewVersions: []string{"v1"},
	}
	policies := admissionregistrationv1.ValidatingWebhook{
		Name:         PolicyWebhook,
		ClientConfig: o.client(PolicyPath),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group},
				APIVersions: []string{v1alpha1.GroupVersion.Version}, Resources: []string{"clusteradmissionpolicies"},
				Scope: ptr.To(admissionregistrationv1.ClusterScope)},
		}, {
			// PolicyExceptions in every namespace, sealgate's own and kube-system included: this
			// webhook has no namespace selector.
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group},
				APIVersions: []string{v1alpha1.GroupVersion.Version}, Resources: []string{"policyexceptions"},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
		}},
		// An invalid policy or exception is rejected at kubectl apply; if sealgate is down, changes wait.
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
		AdmissionReviewVersions: []string{"v1"},
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/name": "sealgate"}},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{workloads, policies},
	}, nil
}

func (o *Options) client(path string) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.URL != "" {
		cc.URL = ptr.To(o.URL + path)
	} else {
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: o.Service, Path: ptr.To(path), Port: ptr.To(o.Port)}
	}
	return cc
}

// workloadRules lists every pod-bearing kind from the workload package, so the webhook and the
// decoder can never disagree. Pods also send the ephemeralcontainers and resize subresources.
//
// The built-in custom kinds (workload.BuiltinCustomKinds) are listed always, whether or not the
// cluster serves their CRDs: the API server accepts a rule that names a resource it does not serve
// and matches it from the moment a CRD serves it, so nothing needs to watch CRDs to register them.
func workloadRules() []admissionregistrationv1.RuleWithOperations {
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	var out []admissionregistrationv1.RuleWithOperations
	for _, k := range workload.Kinds {
		resources := []string{k.Resource}
		if k.Resource == "pods" {
			resources = append(resources, "pods/ephemeralcontainers", "pods/resize")
		}
		out = append(out, admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{k.GVK.Group}, APIVersions: []string{k.GVK.Version}, Resources: resources,
			Scope: ptr.To(admissionregistrationv1.NamespacedScope)}})
	}
	for _, k := range workload.BuiltinCustomKinds {
		// Every built-in custom kind is namespaced.
		out = append(out, admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{k.GVK.Group}, APIVersions: []string{k.GVK.Version}, Resources: []string{k.Resource},
			Scope: ptr.To(admissionregistrationv1.NamespacedScope)}})
	}
	return out
}

// Empty returns an empty configuration object to read into.
func Empty() *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{}
}

// Injected reports whether every webhook of the configuration has a CA bundle.
func Injected(c *admissionregistrationv1.ValidatingWebhookConfiguration) bool {
	for _, w := range c.Webhooks {
		if len(w.ClientConfig.CABundle) == 0 {
			return false
		}
	}
	return len(c.Webhooks) > 0
}

// WorkloadSelectors returns the namespace and object selectors of the workload webhook in c: what
// the API server sends to sealgate. ok is false when c has no workload webhook.
func WorkloadSelectors(c *admissionregistrationv1.ValidatingWebhookConfiguration) (namespaces, objects *metav1.LabelSelector, ok bool) {
	for i := range c.Webhooks {
		if w := &c.Webhooks[i]; w.Name == WorkloadWebhook {
			return w.NamespaceSelector.DeepCopy(), w.ObjectSelector.DeepCopy(), true
		}
	}
	return nil, nil, false
}
