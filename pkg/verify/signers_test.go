package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// signClassic attaches a signature by priv of ref to the registry in the .sig tag format, as
// `cosign sign --key … --new-bundle-format=false` writes it.
func signClassic(t *testing.T, srv *httptest.Server, ref name.Digest, priv *ecdsa.PrivateKey) {
	t.Helper()
	pl, err := payload.Cosign{Image: ref}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(pl)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := static.NewSignature(pl, base64.StdEncoding.EncodeToString(sig))
	if err != nil {
		t.Fatal(err)
	}
	opts := ociremote.WithRemoteOptions(remote.WithTransport(srv.Client().Transport))
	se, err := ociremote.SignedEntity(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachSignatureToEntity(se, s); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(ref.Repository, se, opts); err != nil {
		t.Fatal(err)
	}
}

// rewrapped is the same key as pemKey, with 32-character base64 lines instead of 64: another text.
func rewrapped(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	b.WriteString("-----BEGIN PUBLIC KEY-----\n")
	for ; len(b64) > 32; b64 = b64[32:] {
		b.WriteString(b64[:32] + "\n")
	}
	b.WriteString(b64 + "\n-----END PUBLIC KEY-----\n")
	if b.String() == string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) {
		t.Fatal("rewrapped did not change the text")
	}
	return b.String()
}

func thresholdPolicy(t *testing.T, host string, threshold int, atts ...v1alpha1.Attestor) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: generation.Add(1)},
		Spec: v1alpha1.PolicySpec{
			Mode:       v1alpha1.ModeEnforce,
			Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{host + "/**"}},
			Signatures: []v1alpha1.SignatureRule{{Images: []string{host + "/**"}, Threshold: threshold, Attestors: atts}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestThresholdCountsDistinctSigners: attestors whose keys are equal once loaded (two Secrets, or a
// Secret and an inline key, in any line wrapping) are one signer, so one signature never meets
// threshold 2 through them, and the message says why.
func TestThresholdCountsDistinctSigners(t *testing.T) {
	srv, requests := countingRegistry(t)
	host := strings.TrimPrefix(srv.URL, "https://")
	img, _ := random.Image(64, 1)
	ref, _ := name.NewTag(host + "/app:1")
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	digestRef, _ := name.NewDigest(host + "/app@" + d.String())
	release, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ci, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signClassic(t, srv, digestRef, release)

	fake := &fakeSecrets{secrets: map[string]map[string][]byte{
		"keys/release": {"cosign.pub": []byte(pemKey(t, &release.PublicKey))},
		"keys/copy":    {"cosign.pub": []byte(rewrapped(t, &release.PublicKey))},
	}}
	v := New(Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Secrets: fake})
	fromSecret := func(attestor, secret string) v1alpha1.Attestor {
		return v1alpha1.Attestor{Name: attestor, SecretRef: &v1alpha1.SecretKeyRef{Namespace: "keys", Name: secret}}
	}
	pod := target(digestRef.String())

	t.Run("two Secrets holding one key, threshold 2, one signature", func(t *testing.T) {
		before := requests.Load()
		p := thresholdPolicy(t, host, 2, fromSecret("release", "release"), fromSecret("copy", "copy"))
		fs := v.Verify(t.Context(), p, pod)
		want := `cannot be verified: spec.signatures[0] needs 2 distinct signers, but attestors "release" and "copy" hold the same key and count as one signer, so at most 1 can verify`
		if len(fs) != 1 || !strings.Contains(fs[0].Message, want) {
			t.Fatalf("findings = %+v, want one containing %q", fs, want)
		}
		if requests.Load() != before {
			t.Error("the registry was asked although no signature could meet the threshold")
		}
	})
	t.Run("a Secret and an inline key that are one key, and another key, threshold 2", func(t *testing.T) {
		atts := []v1alpha1.Attestor{fromSecret("release", "release"), {Name: "inline", PublicKey: rewrapped(t, &release.PublicKey)},
			{Name: "ci", PublicKey: pemKey(t, &ci.PublicKey)}}
		fs := v.Verify(t.Context(), thresholdPolicy(t, host, 2, atts...), pod)
		want := `is signed by 1 of the 2 attestors spec.signatures[0] requires (threshold 2): verified "release", "inline"; not verified "ci"; ` +
			`attestors "release" and "inline" hold the same key and count as one signer`
		if len(fs) != 1 || !strings.Contains(fs[0].Message, want) {
			t.Fatalf("findings = %+v, want one containing %q", fs, want)
		}
		signClassic(t, srv, digestRef, ci)
		if fs := v.Verify(t.Context(), thresholdPolicy(t, host, 2, atts...), pod); len(fs) != 0 {
			t.Fatalf("signed by two distinct keys: findings = %+v", fs)
		}
	})
}

func TestCountSigners(t *testing.T) {
	atts := []attestor{{name: "a", signer: "k1"}, {name: "b", signer: "k2"}, {name: "c", signer: "k1"}, {name: "d", signer: "k1"}, {name: "e", signer: "keyless/4"}}
	n, shared := countSigners(atts, []int{0, 1, 2, 3, 4})
	if want := `attestors "a", "c" and "d" hold the same key and count as one signer`; n != 3 || len(shared) != 1 || shared[0] != want {
		t.Errorf("countSigners = %d, %q; want 3, [%q]", n, shared, want)
	}
	if n, shared := countSigners(atts, []int{1, 3}); n != 2 || len(shared) != 0 {
		t.Errorf("countSigners of distinct signers = %d, %q", n, shared)
	}
}
