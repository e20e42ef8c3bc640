//go:build signatures

package signatures

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
)

// configImages pushes a random base image and, with `crane mutate --user`, one image per USER; it
// returns each image's reference by tag, keyed by user ("" is the base, which sets none).
func configImages(t *testing.T, r *testRegistry, dir string) map[string]string {
	t.Helper()
	r.push(t, "app", "base")
	base := r.host + "/app:base"
	refs := map[string]string{"": base}
	for i, user := range []string{"root", "0", "0:1000", "1000", "65532:0", "nobody"} {
		tag := fmt.Sprintf("%s/app:user%d", r.host, i)
		r.tool(t, dir, "crane", "mutate", base, "--user", user, "-t", tag)
		if got := r.tool(t, dir, "crane", "config", tag); !strings.Contains(got, `"User":"`+user+`"`) {
			t.Fatalf("crane mutate --user %q: config %s", user, got)
		}
		refs[user] = tag
	}
	return refs
}

// imageConfigPolicy writes an Enforce policy that allows the test registry and forbids images that
// run as root.
func imageConfigPolicy(t *testing.T, dir string, r *testRegistry) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy",
		"metadata": map[string]any{"name": "image-user"},
		"spec": map[string]any{
			"images":      map[string]any{"allowedRegistries": []string{r.host + "/**"}},
			"imageConfig": map[string]any{"runAsRoot": "Forbid"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "image-user.yaml")
	writeFile(t, path, b)
	return path
}

// TestCheckImageConfig: `sealgate check` reads the config of images pushed with crane and judges
// their USER: root, 0 and a name are denied, a non-zero number is admitted.
func TestCheckImageConfig(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	refs := configImages(t, r, dir)
	pol := imageConfigPolicy(t, dir, r)
	for _, tc := range []struct {
		user string
		want string // "" when admitted
	}{
		{"", "whose config sets no USER, which means root"},
		{"root", `whose config sets USER "root", which is root`},
		{"0", `whose config sets USER "0", which is root`},
		{"0:1000", `whose config sets USER "0:1000", which is root`},
		{"1000", ""},
		{"65532:0", ""},
		{"nobody", `whose config sets USER "nobody", a user name that may be UID 0 in the image and that the kubelet cannot verify as non-root; ` +
			`set securityContext.runAsUser to a non-zero UID, or use a numeric USER in the image`},
	} {
		out, code := check(t, r, pol, refs[tc.user])
		if tc.want == "" {
			if code != 0 {
				t.Errorf("USER %q: exit %d, want 0 (admitted):\n%s", tc.user, code, out)
			}
			continue
		}
		if code != cli.ExitDenied {
			t.Errorf("USER %q: exit %d, want %d (denied):\n%s", tc.user, code, cli.ExitDenied, out)
		}
		wantContains(t, out, "spec.containers[0].securityContext.runAsNonRoot: ",
			`container "c0" sets neither runAsNonRoot nor runAsUser, so it runs as the user of image "`+refs[tc.user]+`"`, tc.want,
			"[image-user/imageConfig.runAsRoot]")
	}

	// Offline: no registry is needed, and the output says the configs were not read.
	f := filepath.Join(dir, "pod.yaml")
	writeFile(t, f, podJSON(refs["root"]))
	var out bytes.Buffer
	code := cli.Execute(t.Context(), []string{"check", "--policy", pol, "-f", f, "--skip-image-config", "--registry-docker-config=false"},
		cli.IO{In: strings.NewReader(""), Out: &out, Err: &out})
	if code != 0 || !strings.Contains(out.String(), "image configs were not read (--skip-image-config)") {
		t.Errorf("--skip-image-config: exit %d:\n%s", code, out.String())
	}
}

// TestCheckImageConfigMultiPlatform: every linux platform of an index built with `crane index
// append` is judged, and the denial names the platform that runs as root.
func TestCheckImageConfigMultiPlatform(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	r.push(t, "multi", "base")
	base := r.host + "/multi:base"
	var manifests []string
	for _, p := range []struct{ platform, user string }{{"linux/amd64", "1000"}, {"linux/arm64", "root"}, {"windows/amd64", "ContainerAdministrator"}} {
		tag := r.host + "/multi:" + strings.ReplaceAll(p.platform, "/", "-")
		r.tool(t, dir, "crane", "mutate", base, "--set-platform", p.platform, "--user", p.user, "-t", tag)
		manifests = append(manifests, "-m", tag)
	}
	index := r.host + "/multi:1"
	r.tool(t, dir, "crane", append(append([]string{"index", "append"}, manifests...), "-t", index)...)
	out, code := check(t, r, imageConfigPolicy(t, dir, r), index)
	if code != cli.ExitDenied {
		t.Fatalf("exit %d, want %d:\n%s", code, cli.ExitDenied, out)
	}
	wantContains(t, out, `whose config for "linux/arm64" sets USER "root", which is root`)
}

// configWebhook is the admission handler with the verifier as its image-config reader and a
// counter of registry requests.
func configWebhook(t *testing.T, r *testRegistry, policyFile string) (*admission.Handler, *counter) {
	t.Helper()
	ps, err := policy.LoadPaths([]string{policyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	v := verify.New(verify.Options{RootCAs: r.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Metrics: c})
	h := &admission.Handler{
		Engine:   &engine.Engine{Rules: rules.Default(), Signatures: v, ImageConfigs: v},
		Policies: admission.StaticPolicies(ps),
	}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	return h, c
}

// reviewSpec sends a Pod CREATE whose spec is given as JSON.
func reviewSpec(ctx context.Context, h *admission.Handler, uid, spec string) *admissionv1.AdmissionResponse {
	req := &admissionv1.AdmissionRequest{
		UID:       ktypes.UID("uid-" + uid),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      "app",
		Namespace: "default",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"default"},"spec":` + spec + `}`)},
	}
	resp, _ := h.Review(ctx, req)
	return resp
}

func (c *counter) registryRequests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.requests
	c.requests = 0
	return n
}

// TestWebhookImageConfig: the admission path reads an image's config only when the pod leaves the
// user to the image, caches it by digest, and fails closed with the registry's reason.
func TestWebhookImageConfig(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	refs := configImages(t, r, dir)
	h, c := configWebhook(t, r, imageConfigPolicy(t, dir, r))
	ctx := t.Context()
	c.registryRequests()
	container := func(image, securityContext string) string {
		return fmt.Sprintf(`{"containers":[{"name":"app","image":%q%s}]}`, image, securityContext)
	}

	t.Run("the pod forces non-root: no registry request", func(t *testing.T) {
		for i, spec := range []string{
			`{"securityContext":{"runAsNonRoot":true},"containers":[{"name":"app","image":"` + refs["root"] + `"}]}`,
			container(refs["root"], `,"securityContext":{"runAsUser":1000}`),
			container(refs["nobody"], `,"securityContext":{"runAsNonRoot":true}`),
		} {
			if resp := reviewSpec(ctx, h, fmt.Sprintf("forced-%d", i), spec); !resp.Allowed {
				t.Errorf("pod %d denied: %s", i, message(resp))
			}
		}
		if n := c.registryRequests(); n != 0 {
			t.Errorf("%d registry requests for pods that force non-root, want 0", n)
		}
	})
	t.Run("USER root is denied, then answered from the cache", func(t *testing.T) {
		resp := reviewSpec(ctx, h, "root", container(refs["root"], ""))
		if resp.Allowed {
			t.Fatal("a container running as its image's root user was admitted")
		}
		wantContains(t, message(resp), `container "app" sets neither runAsNonRoot nor runAsUser, so it runs as the user of image "`+refs["root"]+
			`", whose config sets USER "root", which is root; set securityContext.runAsUser to a non-zero UID, or rebuild the image with a numeric non-root USER`)
		if n := c.registryRequests(); n == 0 {
			t.Fatal("no registry request for a config never read")
		}
		// The next admission resolves the tag again (it may move), and reads nothing else.
		reviewSpec(ctx, h, "root-again", container(refs["root"], ""))
		if n := c.registryRequests(); n > 2 {
			t.Errorf("%d registry requests for a cached config, want the tag lookup only (ping and HEAD)", n)
		}
	})
	t.Run("a numeric USER is admitted", func(t *testing.T) {
		if resp := reviewSpec(ctx, h, "numeric", container(refs["1000"], "")); !resp.Allowed {
			t.Errorf("USER 1000 denied: %s", message(resp))
		}
	})
	t.Run("a registry that fails gives its reason", func(t *testing.T) {
		r.status.Store(http.StatusServiceUnavailable)
		defer r.status.Store(0)
		resp := reviewSpec(ctx, h, "down", container(refs["65532:0"], ""))
		if resp.Allowed {
			t.Fatal("admitted although the config could not be read")
		}
		wantContains(t, message(resp), "the image's config could not be read (", "HTTP 503", "so sealgate fails closed",
			"set securityContext.runAsUser to a non-zero UID or runAsNonRoot: true")
	})
}
