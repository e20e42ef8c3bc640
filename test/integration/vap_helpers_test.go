//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// vapDenied is the verdict of an object a generated ValidatingAdmissionPolicy denied.
const vapDenied verdict = "vap-denied"

// vapVerdict creates u with dryRun=All and says who, if anyone, refused it: a generated VAP
// (sealgate-…), sealgate's webhook, or the API server's validation. A VAP denial is a Forbidden
// status, as the webhook's is, so its message is looked at first. The message is returned with every refusal.
func vapVerdict(ctx context.Context, u *unstructured.Unstructured) (verdict, string, error) {
	err := env.Client.Create(ctx, u, client.DryRunAll)
	switch {
	case err == nil:
		return admitted, "", nil
	case strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+vap.Name("")):
		return vapDenied, err.Error(), nil
	case strings.Contains(err.Error(), `admission webhook "`+webhookconfig.WorkloadWebhook+`" denied the request`):
		return denied, err.Error(), nil
	case apierrors.IsInvalid(err):
		return invalid, err.Error(), nil
	}
	return "", "", err
}

// vapVerdicts is vapVerdict over objs, four at a time, by objectID, with each refusal's message.
func vapVerdicts(t *testing.T, objs []map[string]any) (map[string]verdict, map[string]string) {
	t.Helper()
	out, why := map[string]verdict{}, map[string]string{}
	var mu sync.Mutex
	work := make(chan map[string]any)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for obj := range work {
				v, msg, err := vapVerdict(t.Context(), &unstructured.Unstructured{Object: deepCopy(obj).(map[string]any)})
				if err != nil {
					t.Errorf("%s: %v", objectID(obj), err)
				}
				mu.Lock()
				out[objectID(obj)], why[objectID(obj)] = v, msg
				mu.Unlock()
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return out, why
}

// compileCAP compiles a policy spec named name as sealgate serve would read it from the cluster.
func compileCAP(t *testing.T, name string, spec v1alpha1.PolicySpec) *vap.Result {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	if err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	res, err := vap.Compile(p)
	if err != nil {
		t.Fatalf("compiling %s to a VAP: %v", name, err)
	}
	return res
}

// warningLog collects the warnings the API server sends back (the Warning response header).
type warningLog struct {
	mu   sync.Mutex
	text []string
}

func (w *warningLog) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.text
	w.text = nil
	return out
}

// warningClient is a client of the test cluster whose warnings go to the returned log instead of
// the test's stderr.
func warningClient(t *testing.T) (client.Client, *warningLog) {
	t.Helper()
	log := &warningLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = log
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

// applyVAP creates a compiled policy and its binding with c and deletes both when the test ends.
// It returns the warnings the API server gave for either; an error (a cost-estimate rejection
// among them) fails the test with the API server's message.
func applyVAP(t *testing.T, c client.Client, log *warningLog, res *vap.Result) []string {
	t.Helper()
	for _, obj := range []client.Object{res.Policy.DeepCopy(), res.Binding.DeepCopy()} {
		if err := c.Create(t.Context(), obj); err != nil {
			t.Fatalf("the API server refuses %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}
	return log.take()
}

// withoutWebhook deletes sealgate's webhook configuration, as if sealgate were not installed, and
// waits until the API server no longer calls the webhook: until probe, an object a policy of the
// running sealgate denies, is admitted. When the test ends it restores the configuration and
// waits until the probe is denied again, so that the tests after it have the webhook.
func withoutWebhook(t *testing.T, probe map[string]any) {
	t.Helper()
	vwc := webhookconfig.Empty()
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
		t.Fatalf("reading the webhook configuration: %v", err)
	}
	saved := vwc.DeepCopy()
	if err := env.Client.Delete(t.Context(), vwc); err != nil {
		t.Fatalf("deleting the webhook configuration: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		saved.SetResourceVersion("")
		saved.SetUID("")
		saved.SetCreationTimestamp(metav1.Time{})
		saved.SetManagedFields(nil)
		if err := env.Client.Create(ctx, saved); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("restoring the webhook configuration: %v", err)
			return
		}
		// ctx, not the test's context: that one is canceled before cleanups run.
		waitProbeContext(ctx, t, probe, denied, "sealgate's webhook is called again")
	})
	waitProbe(t, probe, admitted, "the API server no longer calls sealgate's webhook")
}

// waitProbe waits until creating probe (dryRun) gives want.
func waitProbe(t *testing.T, probe map[string]any, want verdict, what string) {
	t.Helper()
	waitProbeContext(t.Context(), t, probe, want, what)
}

// waitProbeContext is waitProbe that gives up when ctx ends.
func waitProbeContext(ctx context.Context, t *testing.T, probe map[string]any, want verdict, what string) {
	t.Helper()
	cluster.EventuallyContext(ctx, t, settle, what, func() (bool, string) {
		v, msg, err := vapVerdict(context.Background(), &unstructured.Unstructured{Object: deepCopy(probe).(map[string]any)})
		return err == nil && v == want, fmt.Sprintf("%s: %s %v", v, msg, err)
	})
}

// vapStatus is what a stored policy's status says: the type checker's warnings and the
// conditions, at the generation it observed. kube-controller-manager runs the type checker; a
// control plane without it leaves the status empty.
func vapStatus(t *testing.T, name string) string {
	t.Helper()
	p := &admissionv1.ValidatingAdmissionPolicy{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: name}, p); err != nil {
		t.Fatal(err)
	}
	parts := []string{fmt.Sprintf("generation %d, observed %d", p.Generation, p.Status.ObservedGeneration)}
	if tc := p.Status.TypeChecking; tc != nil {
		for _, w := range tc.ExpressionWarnings {
			parts = append(parts, w.FieldRef+": "+w.Warning)
		}
	}
	for _, c := range p.Status.Conditions {
		parts = append(parts, c.Type+"="+string(c.Status)+" "+c.Message)
	}
	return strings.Join(parts, "; ")
}

// apiServerMetrics returns the samples of the API server's /metrics whose name starts with prefix.
func apiServerMetrics(t *testing.T, prefix string) []string {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(env.Config.Host, "/") + "/metrics")
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}
