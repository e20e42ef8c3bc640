package v1alpha1

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pemOf encodes a public key as cosign writes it: one PKIX PUBLIC KEY block.
func pemOf(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func newP256Key() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return pemOf(&k.PublicKey)
}

// rsaKeys are generated once: an RSA key takes a while to generate.
var rsaKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	large, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return small, large
})

// rewrap encodes the same key with base64 lines of width characters instead of pem's 64.
func rewrap(t *testing.T, pemKey string, width int) string {
	t.Helper()
	block, _ := pem.Decode([]byte(pemKey))
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	var b strings.Builder
	b.WriteString("-----BEGIN PUBLIC KEY-----\n")
	for len(b64) > width {
		b.WriteString(b64[:width] + "\n")
		b64 = b64[width:]
	}
	b.WriteString(b64 + "\n-----END PUBLIC KEY-----\n")
	if b.String() == pemKey {
		t.Fatal("rewrap did not change the text")
	}
	return b.String()
}

// TestValidatePublicKey: a publicKey that validates is one the verifier can use (ParsePublicKey
// is what pkg/verify loads keys with); anything else is invalid at apply time, with a reason that
// never quotes the key.
func TestValidatePublicKey(t *testing.T) {
	rsa1024, rsa2048 := rsaKeys()
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	privatePEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)}))
	p256 := newP256Key()
	for _, tc := range []struct {
		name, key, wantErr string // wantErr "" means valid
	}{
		{"ECDSA P-256", p256, ""},
		{"ECDSA P-384", pemOf(&p384.PublicKey), ""},
		{"ECDSA P-521", pemOf(&p521.PublicKey), ""},
		{"RSA 2048", pemOf(&rsa2048.PublicKey), ""},
		{"Ed25519", pemOf(edPub), ""},
		{"indented and surrounded by blank lines, as YAML may leave it", "\n  " + p256 + "\n\n", ""},
		{"garbage inside the PEM block", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
			"the PEM block does not hold a public key"},
		{"RSA 1024", pemOf(&rsa1024.PublicKey), "RSA key of 1024 bits is too small (2048 or more)"},
		{"ECDSA P-224", pemOf(&p224.PublicKey), "unsupported ECDSA curve P-224"},
		{"two PEM blocks", p256 + newP256Key(), "must hold exactly one PEM block and nothing else"},
		{"text after the block", p256 + "# release key\n", "must hold exactly one PEM block and nothing else"},
		{"text before the block", "release key:\n" + p256, "must be a PEM public key (-----BEGIN PUBLIC KEY-----)"},
		{"a PRIVATE KEY block", privatePEM, `found a "PRIVATE KEY" block instead`},
		{"a PRIVATE KEY block before the public key", privatePEM + p256, `found a "PRIVATE KEY" block instead`},
		{"PKCS #1 RSA PUBLIC KEY block", pkcs1, `found a "RSA PUBLIC KEY" block instead`},
		{"no END line", "-----BEGIN PUBLIC KEY-----\nMFkw\n", "the PEM block is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"},
				Attestors: []Attestor{{Name: "k", PublicKey: tc.key}}}}})
			p.Default()
			errs := p.Validate()
			if tc.wantErr == "" {
				if len(errs) != 0 {
					t.Fatalf("Validate: %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "spec.signatures[0].attestors[0].publicKey" || !strings.Contains(errs[0].Detail, tc.wantErr) {
				t.Fatalf("errors = %v, want one on publicKey containing %q", errs.ToAggregate(), tc.wantErr)
			}
			for line := range strings.Lines(tc.key) {
				if line = strings.TrimSpace(line); len(line) > 8 && !strings.HasPrefix(line, "-----") && strings.Contains(errs.ToAggregate().Error(), line) {
					t.Errorf("the error quotes the key: %v", errs.ToAggregate())
				}
			}
		})
	}
}

// sigstoreRoot is a trusted root reference for keyless attestors in these tests.
func sigstoreRoot(name string) *TrustedRootRef {
	return &TrustedRootRef{ConfigMap: &SecretKeyRef{Namespace: "sealgate-system", Name: name}}
}

// TestValidateDuplicateSigners: one signer under two attestor names would meet threshold 2 with one
// signature, so it is invalid, on the field of the second with the index of the first.
func TestValidateDuplicateSigners(t *testing.T) {
	key, other := newP256Key(), newP256Key()
	ci := &Keyless{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}
	secret := func(name, key string) *SecretKeyRef {
		return &SecretKeyRef{Namespace: "sealgate-system", Name: name, Key: key}
	}
	for _, tc := range []struct {
		name string
		atts []Attestor
		want []string // errors, as printed
	}{
		{"the same key twice under two names", []Attestor{{Name: "release", PublicKey: key}, {Name: "ci", PublicKey: other}, {Name: "again", PublicKey: key}},
			[]string{"spec.signatures[0].attestors[2].publicKey: Duplicate value: the same key as attestors[0]; a threshold counts distinct signers, so list each signer once"}},
		{"the same key with other line wrapping and indentation", []Attestor{{Name: "release", PublicKey: key}, {Name: "ci", PublicKey: "  " + rewrap(t, key, 40) + "\n"}},
			[]string{"spec.signatures[0].attestors[1].publicKey: Duplicate value: the same key as attestors[0]; a threshold counts distinct signers, so list each signer once"}},
		{"the same key, once with transparencyLog Require", []Attestor{{Name: "release", PublicKey: key},
			{Name: "logged", PublicKey: key, TransparencyLog: "Require", TrustedRootRef: sigstoreRoot("root")}},
			[]string{"spec.signatures[0].attestors[1].publicKey: Duplicate value: the same key as attestors[0]; a threshold counts distinct signers, so list each signer once"}},
		{"the same secretRef twice, once naming the default key", []Attestor{{Name: "release", SecretRef: secret("keys", "")}, {Name: "ci", SecretRef: secret("keys", DefaultSecretKeyName)}},
			[]string{"spec.signatures[0].attestors[1].secretRef: Duplicate value: the same Secret key as attestors[0]; a threshold counts distinct signers, so list each signer once"}},
		{"the same keyless identity twice", []Attestor{{Name: "ci", Keyless: ci, TrustedRootRef: sigstoreRoot("root")},
			{Name: "release", PublicKey: key}, {Name: "ci-again", Keyless: ci, TrustedRootRef: &TrustedRootRef{ConfigMap: secret("root", DefaultTrustedRootKeyName)}}},
			[]string{"spec.signatures[0].attestors[2].keyless: Duplicate value: the same identity and trusted root as attestors[0]; a threshold counts distinct signers, so list each signer once"}},
		{"different keys", []Attestor{{Name: "release", PublicKey: key}, {Name: "ci", PublicKey: other}}, nil},
		{"different keys of one Secret, and one key of two Secrets", []Attestor{{Name: "a", SecretRef: secret("keys", "")}, {Name: "b", SecretRef: secret("keys", "ci.pub")},
			{Name: "c", SecretRef: secret("other", "")}}, nil},
		{"different identities", []Attestor{{Name: "ci", Keyless: ci, TrustedRootRef: sigstoreRoot("root")},
			{Name: "other-subject", Keyless: &Keyless{Issuer: ci.Issuer, Subject: "https://github.com/acme/lib/.github/workflows/release.yml@refs/heads/main"}, TrustedRootRef: sigstoreRoot("root")},
			{Name: "regexp", Keyless: &Keyless{Issuer: ci.Issuer, SubjectRegExp: ci.Subject}, TrustedRootRef: sigstoreRoot("root")},
			{Name: "other-root", Keyless: ci, TrustedRootRef: sigstoreRoot("staging-root")}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"}, Threshold: len(tc.atts), Attestors: tc.atts}}})
			p.Default()
			var got []string
			for _, e := range p.Validate() {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateDuplicateSignersPerRule: the same key in two rules is two separate requirements.
func TestValidateDuplicateSignersPerRule(t *testing.T) {
	key := newP256Key()
	p := policyWith(PolicySpec{Signatures: []SignatureRule{
		{Images: []string{"a/b"}, Attestors: []Attestor{{Name: "release", PublicKey: key}}},
		{Images: []string{"c/d"}, Attestors: []Attestor{{Name: "release", PublicKey: key}}},
	}})
	p.Default()
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("Validate: %v", errs.ToAggregate())
	}
}
