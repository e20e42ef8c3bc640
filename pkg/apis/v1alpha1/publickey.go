package v1alpha1

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// MinRSAKeyBits is the smallest RSA key an attestor may hold: smaller keys are factorable at a cost
// within reach, and cosign itself generates none.
const MinRSAKeyBits = 2048

// DefaultSecretKeyName is the key of an attestor's secretRef that names none: the file `cosign
// generate-key-pair` writes.
const DefaultSecretKeyName = "cosign.pub"

// DefaultTrustedRootKeyName is the key read from a ConfigMap or Secret named by trustedRootRef when
// it gives none, the file name Sigstore clients use.
const DefaultTrustedRootKeyName = "trusted_root.json"

// errNotPEMKey keeps the wording validation has always used for text that holds no public key.
var errNotPEMKey = errors.New("must be a PEM public key (-----BEGIN PUBLIC KEY-----)")

// ParsePublicKey parses an attestor's key as both policy validation and the verifier read it, so
// that a policy that validates can verify: exactly one PEM block of type PUBLIC KEY (whitespace
// around it, nothing else) holding a PKIX key of a type and size sealgate verifies with. The error
// never quotes the text, which may be a private key pasted by mistake.
func ParsePublicKey(text string) (crypto.PublicKey, error) {
	rest := bytes.TrimSpace([]byte(text))
	if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
		return nil, errNotPEMKey
	}
	block, rest := pem.Decode(rest)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: the PEM block is malformed (no END line, or its base64 does not decode)", errNotPEMKey)
	case block.Type != "PUBLIC KEY":
		// A "PRIVATE KEY" block must never be used, and cosign writes PKIX public keys only.
		return nil, fmt.Errorf("%w: found a %q block instead", errNotPEMKey, block.Type)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("must hold exactly one PEM block and nothing else: found text after -----END PUBLIC KEY-----")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the PEM block does not hold a public key: %w", err)
	}
	if err := SupportedPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// SupportedPublicKey reports whether sealgate verifies signatures with pub: ECDSA P-256, P-384 or
// P-521, RSA of MinRSAKeyBits or more, or Ed25519, the keys cosign signs with.
func SupportedPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported ECDSA curve %s (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSAKeyBits {
			return fmt.Errorf("RSA key of %d bits is too small (%d or more)", n, MinRSAKeyBits)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T (want ECDSA P-256/P-384/P-521, RSA or Ed25519)", pub)
}

// PublicKeyID identifies a key independently of its text (line wrapping, whitespace): its PKIX DER
// encoding, comparable as a map key. Two attestors whose keys have one ID are one signer.
func PublicKeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	return string(der)
}
