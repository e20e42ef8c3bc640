package audit

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// Scope is what the API server sends to sealgate's workload webhook: the namespaces and objects its
// selectors match. The audit skips what the webhook never sees, kube-system and sealgate's own
// namespace among them, so that it reports only what admission would decide.
type Scope struct {
	// Namespaces is matched against a namespace's labels; nil matches every namespace.
	Namespaces labels.Selector
	// Objects is matched against an object's labels; nil matches every object.
	Objects labels.Selector
	// Source says where the scope came from, for the output.
	Source string
}

// ScopeFromWebhook reads the scope of the workload webhook in a ValidatingWebhookConfiguration.
func ScopeFromWebhook(c *admissionregistrationv1.ValidatingWebhookConfiguration) (Scope, error) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.Name != webhookconfig.WorkloadWebhook {
			continue
		}
		s := Scope{Source: fmt.Sprintf("ValidatingWebhookConfiguration %s", c.Name)}
		var err error
		if s.Namespaces, err = selector(w.NamespaceSelector); err != nil {
			return Scope{}, fmt.Errorf("%s: webhook %s: namespaceSelector: %w", s.Source, w.Name, err)
		}
		if s.Objects, err = selector(w.ObjectSelector); err != nil {
			return Scope{}, fmt.Errorf("%s: webhook %s: objectSelector: %w", s.Source, w.Name, err)
		}
		return s, nil
	}
	return Scope{}, fmt.Errorf("ValidatingWebhookConfiguration %s has no webhook named %s", c.Name, webhookconfig.WorkloadWebhook)
}

// DefaultScope is the scope of the webhook configuration sealgate installs by default in namespace,
// with extra namespaces excluded: what the audit assumes when no configuration is installed yet.
func DefaultScope(namespace string, excluded ...string) (Scope, error) {
	c, err := webhookconfig.Validating(webhookconfig.Options{Namespace: namespace, URL: "https://sealgate.invalid",
		ExcludeNamespaces: excluded})
	if err != nil {
		return Scope{}, err
	}
	s, err := ScopeFromWebhook(c)
	s.Source = fmt.Sprintf("the default webhook configuration for namespace %s", namespace)
	return s, err
}

func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, err
	}
	if sel.Empty() {
		return nil, nil
	}
	return sel, nil
}

// namespaceIn reports whether the scope covers a namespace with these labels.
func (s *Scope) namespaceIn(nsLabels map[string]string) bool {
	return s.Namespaces == nil || s.Namespaces.Matches(labels.Set(nsLabels))
}

// objectIn reports whether the scope covers an object with these labels.
func (s *Scope) objectIn(objLabels map[string]string) bool {
	return s.Objects == nil || s.Objects.Matches(labels.Set(objLabels))
}
