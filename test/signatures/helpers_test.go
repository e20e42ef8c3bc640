//go:build signatures

// Package signatures tests signature verification end to end with real parts: the real cosign and
// crane CLIs from ./bin, a real OCI registry (go-containerregistry's) served over TLS on loopback,
// and sealgate's own `check` command and admission handler.
package signatures

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	"github.com/sealgate/sealgate/test/registry"
)

// bin returns the path of a tool in ./bin, failing (not skipping) when it is missing.
func bin(t *testing.T, tool string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", tool))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%v): run `hack/tools.sh cosign crane` first", tool, err)
	}
	return p
}

// testRegistry is the shared loopback TLS registry (test/registry), with faults the test can
// switch on.
type testRegistry struct {
	reg    *registry.Server
	srv    *httptest.Server
	host   string // 127.0.0.1:port
	caFile string // the server's certificate, trusted by sealgate, cosign and crane

	delay  atomic.Int64 // nanoseconds to wait before answering
	status atomic.Int32 // when set, every answer is this status
	huge   atomic.Bool  // when set, manifests are answered with an oversized body
	// basicAuth, when set to "user:password", is required of every request (HTTP basic auth).
	basicAuth atomic.Pointer[string]
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	return newRegistryReferrers(t, true)
}

// newRegistryReferrers is newRegistry with the OCI referrers API served or not: without it, cosign
// attaches bundles to the "sha256-<hex>" tag of the referrers tag schema.
func newRegistryReferrers(t *testing.T, referrers bool) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	reg, err := registry.Start(t.TempDir(), referrers, r.faults)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	r.reg, r.srv, r.host, r.caFile = reg, reg.Srv, reg.Host, reg.CAFile
	return r
}

// faults wraps the registry with the faults switched on.
func (r *testRegistry) faults(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if d := time.Duration(r.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-req.Context().Done():
				return
			}
		}
		if s := r.status.Load(); s != 0 {
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}`, int(s))
			return
		}
		if want := r.basicAuth.Load(); want != nil {
			u, p, ok := req.BasicAuth()
			if !ok || u+":"+p != *want {
				w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if r.huge.Load() && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			_, _ = w.Write(bytes.Repeat([]byte(" "), 4<<20))
			return
		}
		inner.ServeHTTP(w, req)
	})
}

// push writes a small random image to repo:tag and returns its digest.
func (r *testRegistry) push(t *testing.T, repo, tag string) string {
	t.Helper()
	d, err := r.reg.Push(repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ref returns host/repo@digest.
func (r *testRegistry) ref(repo, digest string) string { return r.reg.Ref(repo, digest) }

// tool runs cosign or crane with the registry's CA trusted, no password on keys, and a home of
// its own, so nothing outside the test is read or written.
func (r *testRegistry) tool(t *testing.T, dir, tool string, args ...string) string {
	t.Helper()
	out, err := r.reg.Run(t.Context(), bin(t, tool), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// key is a cosign key pair.
type key struct {
	priv string // path of the encrypted private key
	pub  string // PEM public key
}

// newKey generates a key pair with `cosign generate-key-pair`.
func (r *testRegistry) newKey(t *testing.T, dir, prefix string) key {
	t.Helper()
	k, err := r.reg.NewKey(t.Context(), bin(t, "cosign"), dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return key{priv: k.Priv, pub: k.Pub}
}

// format is how cosign stores a signature.
type format = registry.Format

const (
	bundleFormat  = registry.Bundle  // cosign v3's default: a Sigstore bundle attached as an OCI referrer
	classicFormat = registry.Classic // the legacy sha256-<hex>.sig tag
)

// sign signs ref (which must carry a digest) with `cosign sign --key`, offline: no signing config
// from TUF and no transparency log upload.
func (r *testRegistry) sign(t *testing.T, dir string, k key, ref string, f format) {
	t.Helper()
	if err := r.reg.Sign(t.Context(), bin(t, "cosign"), dir, registry.Key{Priv: k.priv, Pub: k.pub}, f, ref); err != nil {
		t.Fatal(err)
	}
}

// attestor is one attestor of a test policy.
type attestor struct{ name, pub string }

// writePolicy writes a policy that allows only the test registry and requires signatures on it.
func writePolicy(t *testing.T, dir string, r *testRegistry, mode string, threshold int, atts ...attestor) string {
	t.Helper()
	var as []map[string]any
	for _, a := range atts {
		as = append(as, map[string]any{"name": a.name, "publicKey": a.pub})
	}
	return writePolicyWith(t, dir, r, mode, threshold, as...)
}

// writePolicyWith writes a policy with attestors given as their YAML fields.
func writePolicyWith(t *testing.T, dir string, r *testRegistry, mode string, threshold int, as ...map[string]any) string {
	t.Helper()
	return writePolicyRule(t, dir, r, mode, map[string]any{"images": []string{r.host + "/**"}, "threshold": threshold, "attestors": as})
}

// writePolicyRule writes a policy that allows only the test registry and has one signature rule.
func writePolicyRule(t *testing.T, dir string, r *testRegistry, mode string, rule map[string]any) string {
	t.Helper()
	p := map[string]any{
		"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy",
		"metadata": map[string]any{"name": "signed"},
		"spec": map[string]any{
			"mode":       mode,
			"images":     map[string]any{"allowedRegistries": []string{r.host + "/**"}},
			"signatures": []any{rule},
		},
	}
	b, err := json.Marshal(p) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("policy-%s-%d.yaml", strings.ToLower(mode), time.Now().UnixNano()))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func podJSON(images ...string) []byte {
	var cs []map[string]any
	for i, im := range images {
		cs = append(cs, map[string]any{"name": fmt.Sprintf("c%d", i), "image": im})
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "app", "namespace": "default"},
		"spec":     map[string]any{"containers": cs},
	})
	return b
}

// check runs `sealgate check` in process on one pod and returns the output and exit code.
func check(t *testing.T, r *testRegistry, policyFile string, images ...string) (string, int) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, podJSON(images...), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	// --detail full: the tests read each object's findings as "<path>: <message> [policy/rule]".
	code := cli.Execute(t.Context(), []string{"check", "--detail", "full", "--policy", policyFile, "-f", f, "--registry-ca-file", r.caFile,
		"--registry-docker-config=false"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code == cli.ExitUsage {
		t.Fatalf("sealgate check: usage error: %s", errOut.String())
	}
	return out.String() + errOut.String(), code
}

// counter is a metrics.SignatureRecorder that counts.
type counter struct {
	mu            sync.Mutex
	verifications map[string]int
	hits, misses  int
	requests      int
}

func (c *counter) SignatureVerification(result string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verifications == nil {
		c.verifications = map[string]int{}
	}
	c.verifications[result]++
}

func (c *counter) SignatureCache(hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hit {
		c.hits++
	} else {
		c.misses++
	}
}

func (c *counter) RegistryRequest(string, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.verifications {
		n += v
	}
	return n
}

// webhook is sealgate's admission handler with a verifier trusting the test registry.
func webhook(t *testing.T, r *testRegistry, policyFile string, o verify.Options) *admission.Handler {
	t.Helper()
	ps, err := policy.LoadPaths([]string{policyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.RootCAs == nil {
		o.RootCAs = r.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	h := &admission.Handler{
		Engine:   &engine.Engine{Rules: rules.Default(), Signatures: verify.New(o)},
		Policies: admission.StaticPolicies(ps),
	}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	return h
}

// review sends a Pod CREATE through the handler.
func review(ctx context.Context, h *admission.Handler, uid string, images ...string) *admissionv1.AdmissionResponse {
	req := &admissionv1.AdmissionRequest{
		UID:       ktypes.UID("uid-" + uid),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      "app",
		Namespace: "default",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: podJSON(images...)},
	}
	resp, _ := h.Review(ctx, req)
	return resp
}

func message(resp *admissionv1.AdmissionResponse) string {
	var b strings.Builder
	if resp.Result != nil {
		b.WriteString(resp.Result.Message)
	}
	for _, w := range resp.Warnings {
		b.WriteString("\n" + w)
	}
	return b.String()
}

func wantContains(t *testing.T, got string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("output lacks %q:\n%s", p, got)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// attest attaches an in-toto attestation of predicateType (a cosign --type name or URI) with the
// predicate in predicateJSON to ref (which must carry a digest), with `cosign attest --key`, offline.
func (r *testRegistry) attest(t *testing.T, dir string, k key, ref, predicateType, predicateJSON string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "predicate-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(predicateJSON); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r.tool(t, dir, "cosign", "attest", "--key", k.priv, "--type", predicateType, "--predicate", f.Name(),
		"--use-signing-config=false", "--tlog-upload=false", "-y", ref)
}
