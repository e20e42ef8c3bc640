package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

type gaugeRecorder struct{ n int }

func (g *gaugeRecorder) FailOpenUnprotected(n int) { g.n = n }

// webhookConfig is sealgate's configuration with the workload webhook's failurePolicy fp.
func webhookConfig(fp admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sealgate"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: webhookconfig.PolicyWebhook, FailurePolicy: new(admissionregistrationv1.Fail)},
			{Name: webhookconfig.WorkloadWebhook, FailurePolicy: &fp},
		}}
}

// TestFailOpenGuard: the gauge counts the rules of Enforce policies that nothing enforces while the
// webhook fails open, and the log names them and the fix.
func TestFailOpenGuard(t *testing.T) {
	// validSpec(true): containers.privileged, Exact in the status below, and
	// containers.readOnlyRootFilesystem, Conservative.
	synced := withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackSynced, 3))
	allExact := withFallback(3, validSpec(false), nil, fallbackStatus(v1alpha1.FallbackSynced, 3))
	stale := withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackSynced, 2))
	warn := withFallback(3, validSpec(true), nil, nil)
	warn.Spec.Mode = v1alpha1.ModeWarn
	for _, tc := range []struct {
		name    string
		vwc     client.Object
		obj     *v1alpha1.ClusterAdmissionPolicy
		want    int
		wantLog string
	}{
		{"failurePolicy Fail", webhookConfig(admissionregistrationv1.Fail), stale, 0, ""},
		{"no webhook configuration", nil, stale, 0, ""},
		{"Ignore, stale fallback: every rule", webhookConfig(admissionregistrationv1.Ignore), stale, 2,
			`"unprotected"="p: containers.privileged, containers.readOnlyRootFilesystem"`},
		// The conservative rule still denies while sealgate is down, but more than the policy says.
		{"Ignore, synced: all but the exact rule", webhookConfig(admissionregistrationv1.Ignore), synced, 1,
			`"unprotected"="p: containers.readOnlyRootFilesystem"`},
		{"Ignore, every rule exact", webhookConfig(admissionregistrationv1.Ignore), allExact, 0, ""},
		{"Ignore, a Warn policy", webhookConfig(admissionregistrationv1.Ignore), warn, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := admissionregistrationv1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			b := fake.NewClientBuilder().WithScheme(scheme)
			if tc.vwc != nil {
				b = b.WithObjects(tc.vwc)
			}
			store := NewStore()
			d := Decide(tc.obj)
			if d.Policy == nil {
				t.Fatalf("nothing in force: %v", d.Invalid)
			}
			store.Put(d.Policy)
			store.MarkLoaded()
			var logged strings.Builder
			rec := &gaugeRecorder{n: -1}
			g := &FailOpenGuard{Reader: b.Build(), Store: store, WebhookConfig: "sealgate", Rules: rules.Default(), Metrics: rec,
				Log: funcr.New(func(prefix, args string) { logged.WriteString(args) }, funcr.Options{})}
			g.check(context.Background())
			if rec.n != tc.want {
				t.Errorf("gauge = %d, want %d", rec.n, tc.want)
			}
			if !strings.Contains(logged.String(), tc.wantLog) {
				t.Errorf("log %q does not contain %q", logged.String(), tc.wantLog)
			}
			if tc.want > 0 && !strings.Contains(logged.String(), "set failurePolicy Fail") {
				t.Errorf("log %q does not say the fix", logged.String())
			}
		})
	}

	t.Run("back to enforced", func(t *testing.T) {
		scheme := runtime.NewScheme()
		if err := admissionregistrationv1.AddToScheme(scheme); err != nil {
			t.Fatal(err)
		}
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(webhookConfig(admissionregistrationv1.Ignore)).Build()
		store := NewStore()
		store.Put(Decide(stale).Policy)
		store.MarkLoaded()
		var logged strings.Builder
		rec := &gaugeRecorder{}
		g := &FailOpenGuard{Reader: c, Store: store, WebhookConfig: "sealgate", Rules: rules.Default(), Metrics: rec,
			Log: funcr.New(func(prefix, args string) { logged.WriteString(args + "\n") }, funcr.Options{})}
		g.check(context.Background())
		g.check(context.Background()) // unchanged: not logged again
		store.Put(Decide(synced).Policy)
		g.check(context.Background())
		store.Put(Decide(allExact).Policy)
		g.check(context.Background())
		lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "2 rule(s)") || !strings.Contains(lines[1], "1 rule(s)") ||
			!strings.Contains(lines[2], "stays enforced") || rec.n != 0 {
			t.Errorf("gauge %d, log:\n%s", rec.n, logged.String())
		}
	})
}
