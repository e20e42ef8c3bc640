package verify

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

func pemKey(t *testing.T, pub any) string {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeyVerifiers: the verifier loads exactly the keys policy validation accepts, so that a
// policy that validates can verify and a key from a Secret is held to the same rules.
func TestKeyVerifiers(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)}))
	for _, tc := range []struct {
		name    string
		pem     string
		n       int
		wantErr string
	}{
		{"ECDSA P-256", pemKey(t, &p256.PublicKey), 1, ""},
		{"ECDSA P-384", pemKey(t, &p384.PublicKey), 2, ""},
		{"ECDSA P-521", pemKey(t, &p521.PublicKey), 2, ""},
		{"RSA 2048", pemKey(t, &rsa2048.PublicKey), 1, ""},
		{"Ed25519", pemKey(t, edPub), 2, ""},
		{"ECDSA P-224", pemKey(t, &p224.PublicKey), 0, "unsupported ECDSA curve P-224"},
		{"X25519", pemKey(t, x25519.PublicKey()), 0, "unsupported key type"},
		{"RSA 1024", pemKey(t, &rsa1024.PublicKey), 0, "too small"},
		{"PKCS #1 RSA", pkcs1, 0, `found a "RSA PUBLIC KEY" block instead`},
		{"garbage in the PEM block", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", 0, "does not hold a public key"},
		{"two keys", pemKey(t, &p256.PublicKey) + pemKey(t, &p384.PublicKey), 0, "exactly one PEM block"},
		{"not PEM", "not a key", 0, "must be a PEM public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.PolicySpec{
				Signatures: []v1alpha1.SignatureRule{{Images: []string{"a/b"}, Attestors: []v1alpha1.Attestor{{Name: "k", PublicKey: tc.pem}}}}}}
			p.Default()
			errs := p.Validate()
			signer, vs, err := keyVerifiers(tc.pem)
			if (err == nil) != (len(errs) == 0) {
				t.Fatalf("the verifier and validation disagree: keyVerifiers: %v; Validate: %v", err, errs.ToAggregate())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(vs) != tc.n || signer == "" {
				t.Fatalf("got %d verifiers, signer %q, %v; want %d", len(vs), signer, err, tc.n)
			}
		})
	}
}

func TestCacheLRUAndTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache(2, func() time.Time { return now })
	k := func(i int) cacheKey { return cacheKey{Repository: "r", Digest: "d", Policy: "p", Rule: i} }
	c.put(k(1), result{kind: resultVerified}, time.Minute)
	c.put(k(2), result{kind: resultUnsigned}, time.Second)
	if _, ok := c.get(k(1)); !ok { // 1 is now the most recent
		t.Fatal("entry 1 missing")
	}
	c.put(k(3), result{kind: resultVerified}, time.Minute) // evicts 2, the least recent
	if _, ok := c.get(k(2)); ok {
		t.Error("entry 2 survived eviction")
	}
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get(k(1)); ok {
		t.Error("expired entry returned")
	}
	// Another generation of the policy is another key.
	other := k(3)
	other.Generation = 2
	if _, ok := c.get(other); ok {
		t.Error("entry of another generation returned")
	}
}

func TestGuardRefusesPlainHTTPAndBoundsBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	o := Options{MaxResponseBytes: 10}
	o.defaults()
	g := newTransport(&o)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Fatalf("plain HTTP: err = %v", err)
	}

	o.InsecureRegistries = []string{host}
	g = newTransport(&o)
	resp, err := g.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, errTooLarge) {
		t.Fatalf("oversized body: err = %v, want errTooLarge", err)
	}
}

// countingRegistry is an in-process registry that counts the requests it serves.
func countingRegistry(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// generation is bumped for every compiled test policy, as the API server bumps it on every spec
// change, so that tests never share cached results.
var generation atomic.Int64

func compile(t *testing.T, host string, mode v1alpha1.Mode, allowed string, atts ...v1alpha1.Attestor) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: generation.Add(1)},
		Spec: v1alpha1.PolicySpec{
			Mode:       mode,
			Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{allowed}},
			Signatures: []v1alpha1.SignatureRule{{Images: []string{host + "/**"}, Attestors: atts}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func target(images ...string) *rules.Target {
	spec := &corev1.PodSpec{}
	for _, im := range images {
		spec.Containers = append(spec.Containers, corev1.Container{Name: "app", Image: im})
	}
	return rules.NewTarget(&metav1.ObjectMeta{}, spec, "spec", "metadata")
}

func TestVerify(t *testing.T) {
	srv, requests := countingRegistry(t)
	host := strings.TrimPrefix(srv.URL, "https://")
	img, _ := random.Image(64, 1)
	ref, _ := name.NewTag(host + "/app:1")
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := v1alpha1.Attestor{Name: "release", PublicKey: pemKey(t, &k.PublicKey)}
	rootCAs := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	reg := prometheus.NewPedanticRegistry()
	rec, err := metrics.NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	v := New(Options{RootCAs: rootCAs, Metrics: rec})

	t.Run("image denied by the allowlist is never looked up", func(t *testing.T) {
		before := requests.Load()
		p := compile(t, host, v1alpha1.ModeEnforce, "registry.example.com/**", key)
		if fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String())); len(fs) != 0 {
			t.Errorf("findings for an image the allowlist denies: %v", fs)
		}
		if requests.Load() != before {
			t.Error("the registry was called for an image the allowlist denies")
		}
	})
	t.Run("image denied by the deny-list is never looked up", func(t *testing.T) {
		before := requests.Load()
		p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: generation.Add(1)},
			Spec: v1alpha1.PolicySpec{
				Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{host + "/**"}, DeniedRegistries: []string{host + "/app"}},
				Signatures: []v1alpha1.SignatureRule{{Images: []string{host + "/**"}, Attestors: []v1alpha1.Attestor{key}}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String())); len(fs) != 0 {
			t.Errorf("findings for an image the deny-list denies: %v", fs)
		}
		if requests.Load() != before {
			t.Error("the registry was called for an image the deny-list denies")
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		p := compile(t, host, v1alpha1.ModeEnforce, host+"/**", key)
		fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String()))
		if len(fs) != 1 || fs[0].Path != "spec.containers[0].image" || fs[0].Container != "app" ||
			!strings.Contains(fs[0].Message, d.String()) || !strings.Contains(fs[0].Message, "has no cosign signature") {
			t.Fatalf("findings = %+v", fs)
		}
		before := requests.Load()
		if fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String())); len(fs) != 1 {
			t.Fatalf("cached: findings = %+v", fs)
		}
		if requests.Load() != before {
			t.Error("a cached failure asked the registry again")
		}
		want := `
# HELP sealgate_signature_cache_lookups_total Lookups of the signature verification cache, by result (hit, miss).
# TYPE sealgate_signature_cache_lookups_total counter
sealgate_signature_cache_lookups_total{result="hit"} 1
sealgate_signature_cache_lookups_total{result="miss"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sealgate_signature_cache_lookups_total"); err != nil {
			t.Error(err)
		}
		if n := testutil.CollectAndCount(reg, "sealgate_registry_request_duration_seconds"); n == 0 {
			t.Error("no registry latency recorded")
		}
	})
	t.Run("tag in Enforce names the digest to pin", func(t *testing.T) {
		p := compile(t, host, v1alpha1.ModeEnforce, host+"/**", key)
		fs := v.Verify(t.Context(), p, target(host+"/app:1"))
		want := `pin it as "` + host + "/app:1@" + d.String() + `"`
		if len(fs) != 1 || !strings.Contains(fs[0].Message, want) {
			t.Fatalf("findings = %+v, want %s", fs, want)
		}
	})
	t.Run("attestors that cannot be checked (no cluster to read a ConfigMap root from) fail closed without a registry call", func(t *testing.T) {
		before := requests.Load()
		p := compile(t, host, v1alpha1.ModeEnforce, host+"/**",
			v1alpha1.Attestor{Name: "ci", Keyless: &v1alpha1.Keyless{Issuer: "https://issuer", Subject: "me"},
				TrustedRootRef: &v1alpha1.TrustedRootRef{ConfigMap: &v1alpha1.SecretKeyRef{Namespace: "sealgate-system", Name: "root"}}})
		fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String()))
		if len(fs) != 1 || !strings.Contains(fs[0].Message, `attestor "ci" cannot be checked`) {
			t.Fatalf("findings = %+v", fs)
		}
		if requests.Load() != before {
			t.Error("the registry was called although no attestor can be checked")
		}
	})
	t.Run("plain HTTP registry not listed as insecure", func(t *testing.T) {
		plain := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
		defer plain.Close()
		phost := strings.TrimPrefix(plain.URL, "http://")
		p := compile(t, phost, v1alpha1.ModeEnforce, phost+"/**", key)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		fs := v.Verify(ctx, p, target(phost+"/app@"+d.String()))
		if len(fs) != 1 || !strings.Contains(fs[0].Message, "fails closed") {
			t.Fatalf("findings = %+v", fs)
		}
	})
}
