package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// fakeSecrets is a SecretReader over maps; err, when set, answers every read.
type fakeSecrets struct {
	secrets    map[string]map[string][]byte // namespace/name
	configMaps map[string]map[string]string
	accounts   map[string][]string
	err        error
	reads      int
}

func (f *fakeSecrets) Secret(_ context.Context, ns, name string) (map[string][]byte, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if d, ok := f.secrets[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}

func (f *fakeSecrets) ConfigMap(_ context.Context, ns, name string) (map[string]string, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if d, ok := f.configMaps[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}

func (f *fakeSecrets) ServiceAccountPullSecrets(_ context.Context, ns, name string) ([]string, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if d, ok := f.accounts[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}

func TestSecretRefAttestors(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := pemKey(t, &k.PublicKey)
	fake := &fakeSecrets{secrets: map[string]map[string][]byte{
		"keys/release": {"cosign.pub": []byte(pub), "other.pub": []byte(pub)},
		"keys/broken":  {"cosign.pub": []byte("not a key")},
	}}
	ref := func(ns, name, key string) v1alpha1.SignatureRule {
		return v1alpha1.SignatureRule{Attestors: []v1alpha1.Attestor{{Name: "release", TransparencyLog: "Ignore",
			SecretRef: &v1alpha1.SecretKeyRef{Namespace: ns, Name: name, Key: key}}}}
	}
	for _, tc := range []struct {
		name      string
		rule      v1alpha1.SignatureRule
		secrets   SecretReader
		want      string // "" means the key loads
		transient bool
	}{
		{"default key cosign.pub", ref("keys", "release", ""), fake, "", false},
		{"named key", ref("keys", "release", "other.pub"), fake, "", false},
		{"missing Secret", ref("keys", "nope", ""), fake, "secretRef Secret keys/nope: not found", false},
		{"missing key", ref("keys", "release", "ci.pub"), fake, `Secret keys/release has no key "ci.pub"`, false},
		{"not a key", ref("keys", "broken", ""), fake, "secretRef keys/broken: must be a PEM public key", false},
		{"API error", ref("keys", "release", ""), &fakeSecrets{err: errors.New("connection refused")}, "secretRef Secret keys/release cannot be read: connection refused", true},
		{"no cluster (sealgate check)", ref("keys", "release", ""), nil, "can only be read by sealgate serving in a cluster; sealgate check cannot read them and fails closed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := New(Options{Secrets: tc.secrets})
			atts := v.compileAttestors(t.Context(), &tc.rule)
			a := atts[0]
			if tc.want == "" {
				if a.unsupported != "" || len(a.verifiers) == 0 {
					t.Fatalf("unsupported = %q, %d verifiers", a.unsupported, len(a.verifiers))
				}
				return
			}
			if !strings.Contains(a.unsupported, tc.want) || a.transient != tc.transient {
				t.Fatalf("unsupported = %q (transient %v), want %q (transient %v)", a.unsupported, a.transient, tc.want, tc.transient)
			}
		})
	}
}

// A missing Secret is a finding in the policy's mode that names the Secret, without a registry call.
func TestSecretRefMissingIsAFinding(t *testing.T) {
	srv, requests := countingRegistry(t)
	host := strings.TrimPrefix(srv.URL, "https://")
	img, _ := random.Image(64, 1)
	d, _ := img.Digest()
	fake := &fakeSecrets{}
	v := New(Options{Secrets: fake})
	for _, mode := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeWarn} {
		p := compile(t, host, mode, host+"/**", v1alpha1.Attestor{Name: "release", TransparencyLog: "Ignore",
			SecretRef: &v1alpha1.SecretKeyRef{Namespace: "keys", Name: "release"}})
		fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String()))
		if len(fs) != 1 || !strings.Contains(fs[0].Message, `attestor "release" cannot be checked: secretRef Secret keys/release: not found`) {
			t.Fatalf("%s: findings = %+v", mode, fs)
		}
	}
	if requests.Load() != 0 {
		t.Error("the registry was called although the key could not be read")
	}
}

func TestTrustedRootRefs(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil, vs.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeSecrets{
		configMaps: map[string]map[string]string{"sigstore/root": {"trusted_root.json": string(js)}, "sigstore/bad": {"trusted_root.json": "{}"}},
		secrets:    map[string]map[string][]byte{"sigstore/root": {"root.json": js}},
	}
	keyless := func(ref v1alpha1.TrustedRootRef) v1alpha1.SignatureRule {
		return v1alpha1.SignatureRule{Attestors: []v1alpha1.Attestor{{Name: "ci", TransparencyLog: "Require", TrustedRootRef: &ref,
			Keyless: &v1alpha1.Keyless{Issuer: "https://issuer", Subject: "me"}}}}
	}
	for _, tc := range []struct {
		name    string
		ref     v1alpha1.TrustedRootRef
		secrets SecretReader
		want    string
	}{
		{"ConfigMap", v1alpha1.TrustedRootRef{ConfigMap: &v1alpha1.SecretKeyRef{Namespace: "sigstore", Name: "root"}}, fake, ""},
		{"Secret with a key", v1alpha1.TrustedRootRef{Secret: &v1alpha1.SecretKeyRef{Namespace: "sigstore", Name: "root", Key: "root.json"}}, fake, ""},
		{"missing ConfigMap", v1alpha1.TrustedRootRef{ConfigMap: &v1alpha1.SecretKeyRef{Namespace: "sigstore", Name: "nope"}}, fake,
			`ConfigMap sigstore/nope key "trusted_root.json": not found`},
		{"not a trusted root", v1alpha1.TrustedRootRef{ConfigMap: &v1alpha1.SecretKeyRef{Namespace: "sigstore", Name: "bad"}}, fake,
			"is not a Sigstore trusted_root.json"},
		{"no cluster", v1alpha1.TrustedRootRef{Secret: &v1alpha1.SecretKeyRef{Namespace: "sigstore", Name: "root"}}, nil,
			"can only be read by sealgate serving in a cluster; use trustedRootRef.file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := keyless(tc.ref)
			a := New(Options{Secrets: tc.secrets}).compileAttestors(t.Context(), &rule)[0]
			if tc.want == "" {
				if a.unsupported != "" || a.keyless == nil || !a.keyless.tlog {
					t.Fatalf("unsupported = %q", a.unsupported)
				}
				return
			}
			if !strings.Contains(a.unsupported, tc.want) {
				t.Fatalf("unsupported = %q, want %q", a.unsupported, tc.want)
			}
		})
	}
}
