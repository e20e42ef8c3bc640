//go:build signatures

package signatures

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/verify"
)

// fakeCluster is a verify.SecretReader over maps keyed "namespace/name"; unit-test double for the
// API server, which serve_cluster.go reads through controller-runtime's client.
type fakeCluster struct {
	secrets  map[string]map[string][]byte
	accounts map[string][]string
}

func (f *fakeCluster) Secret(_ context.Context, ns, name string) (map[string][]byte, error) {
	if d, ok := f.secrets[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, verify.ErrNotFound
}

func (f *fakeCluster) ConfigMap(context.Context, string, string) (map[string]string, error) {
	return nil, verify.ErrNotFound
}

func (f *fakeCluster) ServiceAccountPullSecrets(_ context.Context, ns, name string) ([]string, error) {
	if d, ok := f.accounts[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, verify.ErrNotFound
}

func dockerConfigSecret(t *testing.T, host, user, password string) map[string][]byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"username": user, "password": password}}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{corev1.DockerConfigJsonKey: b}
}

// reviewPod sends a Pod CREATE in namespace ns with the given pull secrets and ServiceAccount.
func reviewPod(ctx context.Context, h *admission.Handler, uid, ns, sa string, pullSecrets []string, image string) *admissionv1.AdmissionResponse {
	spec := corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: image}}}
	for _, s := range pullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	raw, _ := json.Marshal(corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		// No metadata.namespace, as in a Deployment's pod template: the credentials must come from
		// the request's namespace, which the engine hands the verifier.
		ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: spec})
	resp, _ := h.Review(ctx, &admissionv1.AdmissionRequest{
		UID: ktypes.UID("uid-" + uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: "app", Namespace: ns,
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	})
	return resp
}

// TestWebhookPullSecrets: a registry that requires credentials is read with the pod's image pull
// secrets, then its ServiceAccount's; one namespace's failure never answers for another.
func TestWebhookPullSecrets(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	pol := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})
	first := r.push(t, "app", "1")
	r.sign(t, dir, release, r.ref("app", first), bundleFormat)
	second := r.push(t, "app", "2")
	r.sign(t, dir, release, r.ref("app", second), bundleFormat)
	third := r.push(t, "app", "3")
	r.sign(t, dir, release, r.ref("app", third), bundleFormat)
	creds := "puller:s3cret"
	r.basicAuth.Store(&creds) // from now on the registry requires credentials

	fake := &fakeCluster{
		secrets: map[string]map[string][]byte{
			"team-a/regcred":   dockerConfigSecret(t, r.host, "puller", "s3cret"),
			"team-b/regcred":   dockerConfigSecret(t, r.host, "puller", "wrong"),
			"team-c/builder-0": dockerConfigSecret(t, "https://"+r.host+"/v1/", "puller", "s3cret"),
		},
		accounts: map[string][]string{"team-c/builder": {"builder-0"}},
	}
	h := webhook(t, r, pol, verify.Options{Secrets: fake})

	t.Run("wrong credentials are denied", func(t *testing.T) {
		resp := reviewPod(t.Context(), h, "b1", "team-b", "", []string{"regcred"}, r.ref("app", first))
		if resp.Allowed {
			t.Fatal("admitted with wrong credentials")
		}
		wantContains(t, message(resp), "registry denied access (HTTP 401)", "fails closed")
	})
	t.Run("the pod's imagePullSecrets, not another namespace's cached failure", func(t *testing.T) {
		if resp := reviewPod(t.Context(), h, "a1", "team-a", "", []string{"regcred"}, r.ref("app", first)); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
	t.Run("the ServiceAccount's imagePullSecrets", func(t *testing.T) {
		if resp := reviewPod(t.Context(), h, "c1", "team-c", "builder", nil, r.ref("app", second)); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
	t.Run("no credentials at all", func(t *testing.T) {
		resp := reviewPod(t.Context(), h, "d1", "team-d", "", nil, r.ref("app", third))
		if resp.Allowed {
			t.Fatal("admitted without credentials")
		}
		wantContains(t, message(resp), third, "HTTP 401")
	})
	t.Run("a verified digest is verified for every namespace", func(t *testing.T) {
		// Documented: the result is about the digest; the kubelet still needs credentials to pull.
		if resp := reviewPod(t.Context(), h, "d2", "team-d", "", nil, r.ref("app", first)); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
}

// TestSecretRef: a key attestor read from a Secret in the webhook; `sealgate check` cannot read it
// and fails closed saying so.
func TestSecretRef(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	d := r.push(t, "app", "1")
	r.sign(t, dir, release, r.ref("app", d), bundleFormat)
	pol := writePolicyWith(t, dir, r, "Enforce", 1, map[string]any{"name": "release",
		"secretRef": map[string]any{"namespace": "sealgate-keys", "name": "release"}})

	fake := &fakeCluster{secrets: map[string]map[string][]byte{"sealgate-keys/release": {"cosign.pub": []byte(release.pub)}}}
	if resp := review(t.Context(), webhook(t, r, pol, verify.Options{Secrets: fake}), "ok", r.ref("app", d)); !resp.Allowed {
		t.Fatalf("denied: %s", message(resp))
	}
	resp := review(t.Context(), webhook(t, r, pol, verify.Options{Secrets: &fakeCluster{}}), "missing", r.ref("app", d))
	if resp.Allowed {
		t.Fatal("admitted although the Secret is missing")
	}
	wantContains(t, message(resp), "Secret sealgate-keys/release: not found", "fails closed")

	out, code := check(t, r, pol, r.ref("app", d))
	if code != cli.ExitDenied {
		t.Fatalf("check: exit %d, want denied:\n%s", code, out)
	}
	wantContains(t, out, "sealgate check cannot read them and fails closed")
}

// TestWebhookRuleRegistryCredentials: a signature rule's registryCredentials Secret serves pods
// that have no pull secrets for the registry, after the pod's own and its ServiceAccount's.
func TestWebhookRuleRegistryCredentials(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	var digests []string
	for _, tag := range []string{"1", "2", "3", "4"} {
		d := r.push(t, "app", tag)
		r.sign(t, dir, release, r.ref("app", d), bundleFormat)
		digests = append(digests, d)
	}
	creds := "puller:s3cret"
	r.basicAuth.Store(&creds) // from now on the registry requires credentials

	fake := &fakeCluster{secrets: map[string]map[string][]byte{
		"sealgate/regcred": dockerConfigSecret(t, r.host, "puller", "s3cret"),
		"sealgate/wrong":   dockerConfigSecret(t, r.host, "puller", "wrong"),
		"team-a/regcred":   dockerConfigSecret(t, r.host, "puller", "s3cret"),
	}}
	rulePolicy := func(secret string) string {
		return writePolicyRule(t, dir, r, "Enforce", map[string]any{
			"images":              []string{r.host + "/**"},
			"attestors":           []map[string]any{{"name": "release", "publicKey": release.pub}},
			"registryCredentials": map[string]any{"secretRef": map[string]any{"namespace": "sealgate", "name": secret}},
		})
	}
	good := webhook(t, r, rulePolicy("regcred"), verify.Options{Secrets: fake})
	wrong := webhook(t, r, rulePolicy("wrong"), verify.Options{Secrets: fake})
	missing := webhook(t, r, rulePolicy("missing"), verify.Options{Secrets: fake})

	t.Run("the rule's Secret serves a pod without pull secrets", func(t *testing.T) {
		if resp := reviewPod(t.Context(), good, "g1", "team-x", "", nil, r.ref("app", digests[0])); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
	t.Run("a wrong Secret is denied with the registry's 401", func(t *testing.T) {
		resp := reviewPod(t.Context(), wrong, "w1", "team-x", "", nil, r.ref("app", digests[1]))
		if resp.Allowed {
			t.Fatal("admitted with wrong credentials")
		}
		wantContains(t, message(resp), digests[1], "registry denied access (HTTP 401)", "fails closed")
	})
	t.Run("a missing Secret is skipped, and the registry's 401 denies", func(t *testing.T) {
		resp := reviewPod(t.Context(), missing, "m1", "team-x", "", nil, r.ref("app", digests[2]))
		if resp.Allowed {
			t.Fatal("admitted without credentials")
		}
		wantContains(t, message(resp), digests[2], "HTTP 401")
	})
	t.Run("the pod's imagePullSecrets come before the rule's Secret", func(t *testing.T) {
		if resp := reviewPod(t.Context(), wrong, "w2", "team-a", "", []string{"regcred"}, r.ref("app", digests[3])); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
	t.Run("sealgate check cannot read the Secret and carries on without it", func(t *testing.T) {
		out, code := check(t, r, rulePolicy("regcred"), r.ref("app", digests[2]))
		if code != cli.ExitDenied {
			t.Fatalf("check: exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, digests[2], "HTTP 401")
	})
}
