package auditor

import (
	"context"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
)

// scope reads the scope of the workload webhook from the webhook configuration, or assumes the
// default configuration's when it is not installed (sealgate run outside the chart).
func (s *Scanner) scope(ctx context.Context) audit.Scope {
	sc, installed, err := readScope(ctx, s.Client, s.WebhookConfig, s.Namespace)
	switch {
	case err != nil:
		s.Log.Error(err, "audit: reading the webhook's scope; assuming the default configuration's", "webhookConfig", s.WebhookConfig)
	case !installed:
		s.Log.Info("audit: the webhook configuration is not installed; assuming the default configuration's scope",
			"webhookConfig", s.WebhookConfig, "scope", sc.Source)
	}
	return sc
}

// readScope returns the scope of the workload webhook of the configuration name and whether it is
// installed; when it is not, or cannot be read, the default configuration's for sealgate's
// namespace (the error says why, and is nil when it is simply not installed).
func readScope(ctx context.Context, c client.Reader, name, namespace string) (audit.Scope, bool, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	err := c.Get(ctx, client.ObjectKey{Name: name}, &vwc)
	if err == nil {
		if sc, err := audit.ScopeFromWebhook(&vwc); err == nil {
			return sc, true, nil
		} else {
			def, derr := audit.DefaultScope(namespace)
			return def, true, errors.Join(err, derr)
		}
	}
	def, derr := audit.DefaultScope(namespace)
	if apierrors.IsNotFound(err) {
		return def, false, derr
	}
	return def, false, errors.Join(fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", name, err), derr)
}
