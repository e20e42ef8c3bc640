//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// reviewPod posts to one replica's /validate, over TLS verified with the CA bundle the API server
// trusts, the AdmissionReview the API server would send to create a pod whose container carries
// extra (JSON members), and returns the verdict.
func reviewPod(t *testing.T, r *cluster.Sealgate, ns, name, extra string) (bool, string, error) {
	t.Helper()
	if extra != "" {
		extra = ", " + extra
	}
	var pod unstructured.Unstructured
	if err := pod.UnmarshalJSON([]byte(fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": %q, "namespace": %q},
		"spec": {"containers": [{"name": "c", "image": "busybox:1.37"%s}]}}`, name, ns, extra))); err != nil {
		return false, "", err
	}
	hc, err := env.WebhookClient(t.Context())
	if err != nil {
		return false, "", err
	}
	defer hc.CloseIdleConnections()
	resp, err := r.Review(hc, ns, &pod)
	if err != nil {
		return false, "", err
	}
	msg := ""
	if resp.Result != nil {
		msg = resp.Result.Message
	}
	return resp.Allowed, msg, nil
}

// withoutPolicyWebhook runs f with the policy webhook taken out of the webhook configuration, so an
// update it would reject reaches storage, as when it is bypassed; it puts the webhook back after.
func withoutPolicyWebhook(t *testing.T, f func()) {
	t.Helper()
	var saved *admissionregistrationv1.ValidatingWebhook
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		vwc := webhookconfig.Empty()
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
			return err
		}
		var keep []admissionregistrationv1.ValidatingWebhook
		for i, w := range vwc.Webhooks {
			if w.Name == webhookconfig.PolicyWebhook {
				saved = vwc.Webhooks[i].DeepCopy()
				continue
			}
			keep = append(keep, w)
		}
		vwc.Webhooks = keep
		return env.Client.Update(t.Context(), vwc)
	})
	if err != nil || saved == nil {
		t.Fatalf("removing the policy webhook: %v (found: %v)", err, saved != nil)
	}
	restore := func() {
		// Not t.Context: this also runs as a cleanup, after t.Context is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			vwc := webhookconfig.Empty()
			if err := env.Client.Get(ctx, client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
				return err
			}
			for _, w := range vwc.Webhooks {
				if w.Name == saved.Name {
					return nil
				}
			}
			vwc.Webhooks = append(vwc.Webhooks, *saved)
			return env.Client.Update(ctx, vwc)
		})
		if err != nil {
			t.Errorf("restoring the policy webhook: %v", err)
		}
	}
	t.Cleanup(restore) // if f fails the test; restoring twice is a no-op
	f()
	restore()
}

// updateSpecBypassingWebhook merge-patches the policy's spec, retrying while the API server still
// calls the webhook it has not yet seen removed.
func updateSpecBypassingWebhook(t *testing.T, name, specPatch string) {
	t.Helper()
	obj := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec": `+specPatch+`}`))
	eventually(t, settle, "the invalid update stored", func() (bool, string) {
		err := env.Client.Patch(t.Context(), obj, patch)
		return err == nil, fmt.Sprint(err)
	})
}

// statusWrites counts the writes to a policy that leave its generation unchanged (status writes:
// nothing else in the suite writes the policy's metadata), from a watch that follows the test.
type statusWrites struct {
	mu     sync.Mutex
	events []string // one line per status write
	gen    int64
	rv     string
	failed error
}

func watchStatusWrites(t *testing.T, name string) *statusWrites {
	t.Helper()
	dc, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// List, then watch from the list's version, so that no write after this call is missed.
	var list v1alpha1.ClusterAdmissionPolicyList
	if err := env.Client.List(t.Context(), &list); err != nil {
		t.Fatal(err)
	}
	w := &statusWrites{rv: list.ResourceVersion}
	start := func() (watch.Interface, error) {
		w.mu.Lock()
		rv := w.rv
		w.mu.Unlock()
		return dc.Resource(cluster.PolicyGVR).Watch(t.Context(),
			metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: rv})
	}
	first, err := start()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wi := first; ; {
			for ev := range wi.ResultChan() {
				if ev.Type != watch.Error {
					w.observe(ev)
					continue
				}
				// A watch cache behind the version asked for says so and asks to retry; anything
				// else (410 Gone) would lose writes, and the count would be wrong.
				err := apierrors.FromObject(ev.Object)
				if t.Context().Err() != nil {
					break // the test is over
				}
				if !apierrors.IsTimeout(err) {
					w.fail(fmt.Errorf("watching policy %s: %w", name, err))
				}
				t.Logf("watch of policy %s: %v; resuming", name, err)
				break
			}
			wi.Stop()
			select {
			case <-t.Context().Done():
				return
			case <-time.After(time.Second):
			}
			// The API server ends watches after a while: resume from the last version seen.
			w.mu.Lock()
			t.Logf("watch of policy %s ended at resource version %q; resuming", name, w.rv)
			w.mu.Unlock()
			next, err := start()
			if err != nil {
				w.fail(fmt.Errorf("watching policy %s again: %w", name, err))
				return
			}
			wi = next
		}
	}()
	// t.Context is cancelled before cleanups run, which ends the watch.
	t.Cleanup(func() { <-done })
	return w
}

func (w *statusWrites) observe(ev watch.Event) {
	u, ok := ev.Object.(*unstructured.Unstructured)
	if !ok {
		return
	}
	p := &v1alpha1.ClusterAdmissionPolicy{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		w.fail(fmt.Errorf("decoding a watch event: %w", err))
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == watch.Modified && p.Generation == w.gen {
		line := fmt.Sprintf("rv %s generation %d:", p.ResourceVersion, p.Generation)
		if c := meta.FindStatusCondition(p.Status.Conditions, "Ready"); c != nil {
			// The verdict ends the message; the errors before it are the same in every line.
			line += fmt.Sprintf(" Ready=%s %q", c.Status, c.Message[strings.LastIndex(c.Message, ";")+1:])
		}
		w.events = append(w.events, line)
	}
	w.gen, w.rv = p.Generation, p.ResourceVersion
}

func (w *statusWrites) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
	}
}

func (w *statusWrites) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

func (w *statusWrites) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// since lists the writes after the first n, at most 20 of them.
func (w *statusWrites) since(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := w.events[n:]
	more := ""
	if len(ev) > 20 {
		ev, more = ev[:20], fmt.Sprintf("\n… and %d more", len(w.events)-n-20)
	}
	return strings.Join(ev, "\n") + more
}
