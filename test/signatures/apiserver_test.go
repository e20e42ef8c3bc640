//go:build signatures

package signatures

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/test/cluster"
)

// Deadlines of the API server test; every wait has one.
const (
	kubectlTimeout = 30 * time.Second // one kubectl call
	policySettle   = 20 * time.Second // a policy reaching sealgate and its status written
	buildTimeout   = 3 * time.Minute  // go build of the sealgate binary
)

// controlPlane is a real kube-apiserver and etcd with the real sealgate binary as its webhook,
// trusting the test registry's CA. It fails, never skips, when a binary is missing.
type controlPlane struct {
	env *cluster.Cluster
	sg  *cluster.Sealgate
}

func startControlPlane(t *testing.T, r *testRegistry) *controlPlane {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	binary, err := cluster.BuildSealgate(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cluster.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	sctx, scancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer scancel()
	sg, err := env.StartSealgate(sctx, binary, "--registry-ca-file", r.caFile, "--registry-docker-config=false")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sg.Stop()
		if t.Failed() {
			t.Logf("sealgate log:\n%s", sg.Log.String())
		}
	})
	return &controlPlane{env: env, sg: sg}
}

// kubectlResult is one kubectl run.
type kubectlResult struct {
	args           []string
	stdout, stderr string
	err            error
}

func (k kubectlResult) code() int {
	if k.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(k.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (k kubectlResult) String() string {
	return fmt.Sprintf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(k.args, " "), k.code(), k.stdout, k.stderr)
}

func (c *controlPlane) kubectl(t *testing.T, stdin string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	out, errOut, err := c.env.Kubectl(ctx, stdin, args...)
	return kubectlResult{args: args, stdout: out, stderr: errOut, err: err}
}

func (c *controlPlane) mustKubectl(t *testing.T, stdin string, args ...string) kubectlResult {
	t.Helper()
	k := c.kubectl(t, stdin, args...)
	if k.err != nil {
		t.Fatalf("unexpected failure: %s", k)
	}
	return k
}

// applyPolicy applies a policy (any JSON-able value) with kubectl and waits until its Ready
// condition is True at its current generation.
func (c *controlPlane) applyPolicy(t *testing.T, name string, spec map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy",
		"metadata": map[string]any{"name": name}, "spec": spec,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.mustKubectl(t, string(b), "apply", "-f", "-")
	const jp = `jsonpath={.metadata.generation}|{.status.observedGeneration}|` +
		`{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].observedGeneration}`
	deadline := time.Now().Add(policySettle)
	for {
		k := c.kubectl(t, "", "get", "clusteradmissionpolicy", name, "-o", jp)
		f := strings.Split(k.stdout, "|")
		if k.err == nil && len(f) == 4 && f[0] != "" && f[1] == f[0] && f[3] == f[0] && f[2] == "True" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy %s not Ready=True at its generation within %s; last: %s", name, policySettle, k)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for policy %s", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// podYAML renders a Pod with one container of image.
func podYAML(ns, name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec: {containers: [{name: c, image: %q}]}\n", name, ns, image)
}

// wantKubectlDenied asserts that kubectl failed with a denial of sealgate's workload webhook whose
// text contains every part.
func wantKubectlDenied(t *testing.T, k kubectlResult, parts ...string) {
	t.Helper()
	if k.code() < 1 {
		t.Fatalf("want a denial and a non-zero exit status, got: %s", k)
	}
	for _, p := range append([]string{`admission webhook "workloads.sealgate.dev" denied the request`}, parts...) {
		if !strings.Contains(k.stderr, p) {
			t.Errorf("kubectl stderr lacks %q: %s", p, k)
		}
	}
}

// TestAPIServer runs the whole path: the real cosign signs images in the TLS registry, the real
// sealgate binary is the webhook of a real kube-apiserver, and kubectl creates pods.
func TestAPIServer(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	ci := r.newKey(t, dir, "ci")
	signed := r.push(t, "app", "1.2")
	r.sign(t, dir, release, r.ref("app", signed), bundleFormat)
	unsigned := r.push(t, "app", "unsigned")
	bothSigned := r.push(t, "app", "both")
	r.sign(t, dir, release, r.ref("app", bothSigned), bundleFormat)
	r.sign(t, dir, ci, r.ref("app", bothSigned), classicFormat)
	attested := r.push(t, "app", "attested")
	r.sign(t, dir, release, r.ref("app", attested), bundleFormat)
	r.attest(t, dir, release, r.ref("app", attested), "slsaprovenance1", provenance)

	cp := startControlPlane(t, r)
	const ns = "signed-apps"
	if err := cp.env.EnsureNamespace(t.Context(), ns, map[string]string{"sig-test": "inline"}); err != nil {
		t.Fatal(err)
	}
	cp.applyPolicy(t, "signed-images", map[string]any{
		"mode":   "Enforce",
		"match":  map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]string{"sig-test": "inline"}}},
		"images": map[string]any{"allowedRegistries": []string{r.host + "/**"}},
		"signatures": []any{map[string]any{"images": []string{r.host + "/**"},
			"attestors": []any{map[string]any{"name": "release", "publicKey": release.pub}}}},
	})

	t.Run("signed digest created", func(t *testing.T) {
		k := cp.kubectl(t, podYAML(ns, "signed", r.ref("app", signed)), "apply", "-f", "-")
		if k.err != nil {
			t.Fatalf("want created: %s", k)
		}
		cp.mustKubectl(t, "", "get", "pod", "signed", "-n", ns)
	})
	t.Run("unsigned digest denied", func(t *testing.T) {
		k := cp.kubectl(t, podYAML(ns, "unsigned", r.ref("app", unsigned)), "apply", "-f", "-")
		wantKubectlDenied(t, k, "spec.containers[0].image", r.ref("app", unsigned), "has no cosign signature", "signature")
		if g := cp.kubectl(t, "", "get", "pod", "unsigned", "-n", ns); !strings.Contains(g.stderr, "NotFound") {
			t.Errorf("the denied pod exists: %s", g)
		}
	})
	t.Run("tag only denied with the digest to pin", func(t *testing.T) {
		k := cp.kubectl(t, podYAML(ns, "tagged", r.host+"/app:1.2"), "apply", "-f", "-")
		wantKubectlDenied(t, k, "referenced by tag", "the tag points to "+signed, r.host+"/app:1.2@"+signed)
	})

	// Keys from a Secret in sealgate's namespace, read by the running webhook through the API server.
	t.Run("secretRef key and threshold", func(t *testing.T) {
		const refNS = "signed-ref"
		if err := cp.env.EnsureNamespace(t.Context(), refNS, map[string]string{"sig-test": "ref"}); err != nil {
			t.Fatal(err)
		}
		secret, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"name": "ci-key", "namespace": cluster.Namespace},
			"stringData": map[string]string{"cosign.pub": ci.pub}})
		if err != nil {
			t.Fatal(err)
		}
		cp.mustKubectl(t, string(secret), "apply", "-f", "-")
		cp.applyPolicy(t, "signed-by-two", map[string]any{
			"mode":   "Enforce",
			"match":  map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]string{"sig-test": "ref"}}},
			"images": map[string]any{"allowedRegistries": []string{r.host + "/**"}},
			"signatures": []any{map[string]any{"images": []string{r.host + "/**"}, "threshold": 2,
				"attestors": []any{
					map[string]any{"name": "release", "publicKey": release.pub},
					map[string]any{"name": "ci", "secretRef": map[string]any{"namespace": cluster.Namespace, "name": "ci-key"}},
				}}},
		})
		if k := cp.kubectl(t, podYAML(refNS, "both", r.ref("app", bothSigned)), "apply", "-f", "-"); k.err != nil {
			t.Fatalf("signed by both attestors: want created: %s", k)
		}
		k := cp.kubectl(t, podYAML(refNS, "one", r.ref("app", signed)), "apply", "-f", "-")
		wantKubectlDenied(t, k, signed, "signed by 1 of the 2 attestors", `not verified "ci"`)
	})

	t.Run("attestations", func(t *testing.T) {
		const attNS = "attested-apps"
		if err := cp.env.EnsureNamespace(t.Context(), attNS, map[string]string{"sig-test": "attestations"}); err != nil {
			t.Fatal(err)
		}
		cp.applyPolicy(t, "attested-images", map[string]any{
			"mode":   "Enforce",
			"match":  map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]string{"sig-test": "attestations"}}},
			"images": map[string]any{"allowedRegistries": []string{r.host + "/**"}},
			"signatures": []any{map[string]any{"images": []string{r.host + "/**"},
				"attestors":    []any{map[string]any{"name": "release", "publicKey": release.pub}},
				"attestations": []any{map[string]any{"predicateType": slsaV1}}}},
		})
		if k := cp.kubectl(t, podYAML(attNS, "attested", r.ref("app", attested)), "apply", "-f", "-"); k.err != nil {
			t.Fatalf("signed and attested: want created: %s", k)
		}
		k := cp.kubectl(t, podYAML(attNS, "signed-only", r.ref("app", signed)), "apply", "-f", "-")
		wantKubectlDenied(t, k, r.ref("app", signed), `has no attestation of predicate type "`+slsaV1+`"`)
	})
}

// TestAuditSignatures: `sealgate audit` verifies the signatures of what already runs with the same
// verifier as the webhook, reading the key a signature rule names from a Secret in the cluster;
// --skip-signatures says it did not.
func TestAuditSignatures(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	signed := r.push(t, "app", "1.2")
	r.sign(t, dir, release, r.ref("app", signed), bundleFormat)
	unsigned := r.push(t, "app", "unsigned")

	cp := startControlPlane(t, r)
	const ns = "audit-sigs"
	if err := cp.env.EnsureNamespace(t.Context(), ns, map[string]string{"sig-test": "audit"}); err != nil {
		t.Fatal(err)
	}
	// Running before any policy asks for signatures.
	for name, digest := range map[string]string{"signed": signed, "unsigned": unsigned} {
		if k := cp.kubectl(t, podYAML(ns, name, r.ref("app", digest)), "apply", "-f", "-"); k.err != nil {
			t.Fatalf("pod %s: %s", name, k)
		}
	}
	secret, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "release-key", "namespace": cluster.Namespace},
		"stringData": map[string]string{"cosign.pub": release.pub}})
	if err != nil {
		t.Fatal(err)
	}
	cp.mustKubectl(t, string(secret), "apply", "-f", "-")
	policyFile := writePolicyRule(t, dir, r, "Enforce", map[string]any{"images": []string{r.host + "/**"},
		"attestors": []any{map[string]any{"name": "release", "secretRef": map[string]any{"namespace": cluster.Namespace, "name": "release-key"}}}})

	audit := func(extra ...string) (auditOut, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"audit", "--kubeconfig", cp.env.Kubeconfig, "-n", ns, "-o", "json", "--policy", policyFile,
			"--registry-ca-file", r.caFile, "--registry-docker-config=false"}, extra...)
		code := cli.Execute(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code == cli.ExitUsage {
			t.Fatalf("sealgate audit: usage error: %s", errOut.String())
		}
		var got auditOut
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("audit -o json: %v\n%s", err, out.String())
		}
		return got, code
	}

	got, code := audit()
	if code != cli.ExitDenied {
		t.Errorf("exit %d, want %d: the unsigned pod would be denied", code, cli.ExitDenied)
	}
	var reported []string
	for _, res := range got.Results {
		reported = append(reported, res.Name)
		for _, v := range res.Violations {
			if v.Rule != "signatures" || !strings.Contains(v.Message, "has no cosign signature") {
				t.Errorf("%s: violation %+v, want the signatures rule", res.Name, v)
			}
		}
	}
	if strings.Join(reported, ",") != "unsigned" || got.SignaturesSkipped {
		t.Errorf("reported %v (signaturesSkipped %v), want only the unsigned pod, verified", reported, got.SignaturesSkipped)
	}

	got, code = audit("--skip-signatures")
	if code != cli.ExitOK || len(got.Results) != 0 || !got.SignaturesSkipped {
		t.Errorf("--skip-signatures: exit %d, %d results, signaturesSkipped %v; want 0, none, true", code, len(got.Results), got.SignaturesSkipped)
	}
}

// auditOut is the part of `sealgate audit -o json` TestAuditSignatures reads.
type auditOut struct {
	Results []struct {
		Name       string
		Violations []struct{ Rule, Message string }
	}
	SignaturesSkipped bool
}
