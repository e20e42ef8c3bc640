package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// attestor is a compiled spec.signatures[i].attestors[j]: the verifiers of its key, or its keyless
// identity and trusted root, or why it cannot be checked by this sealgate.
type attestor struct {
	name string
	// signer identifies who signs for the attestor: a key attestor's key as PKIX DER, so that
	// attestors holding one key (two Secrets with the same key, which validation cannot see) are
	// one signer toward a threshold; a keyless attestor is a signer of its own.
	signer    string
	verifiers []signature.Verifier
	keyless   *keyless
	// tlog, for a key attestor with transparencyLog Require, holds the trusted root's log keys a
	// signature's transparency-log entry must verify with; nil when the log is ignored.
	tlog        root.TrustedMaterial
	unsupported string
	// transient says unsupported comes from a read that may succeed later (API or file error).
	transient bool
}

func (v *Verifier) compileAttestors(ctx context.Context, r *v1alpha1.SignatureRule) []attestor {
	out := make([]attestor, len(r.Attestors))
	for i := range r.Attestors {
		a := &r.Attestors[i]
		out[i].name = a.Name
		var err error
		switch {
		case a.Keyless != nil:
			out[i].keyless, err = compileKeyless(ctx, v.opts.Secrets, a)
			out[i].signer = "keyless/" + strconv.Itoa(i)
		case a.TransparencyLog == "Require" && a.TrustedRootRef == nil:
			err = errors.New("transparencyLog: Require needs trustedRootRef, a Sigstore trusted_root.json whose transparency-log keys verify the log entry; or set transparencyLog: Ignore")
		case a.SecretRef != nil:
			var pem string
			if pem, err = readSecretKey(ctx, v.opts.Secrets, a.SecretRef); err == nil {
				out[i].signer, out[i].verifiers, err = keyVerifiers(pem)
				if err != nil {
					err = fmt.Errorf("secretRef %s/%s: %w", a.SecretRef.Namespace, a.SecretRef.Name, err)
				}
			}
		default:
			out[i].signer, out[i].verifiers, err = keyVerifiers(a.PublicKey)
			if err != nil {
				err = fmt.Errorf("publicKey: %w", err)
			}
		}
		if err == nil && a.Keyless == nil && a.TransparencyLog == "Require" {
			var tr *root.TrustedRoot
			if tr, err = loadTrustedRoot(ctx, v.opts.Secrets, a.TrustedRootRef); err == nil {
				out[i].tlog = &tlogMaterial{logs: tr.RekorLogs()}
			}
		}
		if err != nil {
			out[i].unsupported = err.Error()
			var le *loadError
			out[i].transient = errors.As(err, &le)
		}
	}
	return out
}

// keyVerifiers loads a PEM public key as the verifiers cosign may have signed with: cosign hashes
// with SHA-256 by default and with the curve's own hash for the new bundle format, and signs with
// Ed25519ph for Ed25519 keys (pure Ed25519 in older releases). The key is parsed by
// v1alpha1.ParsePublicKey, the function policy validation uses, so that an inline key that
// validates loads here and a key from a Secret is held to the same rules. signer identifies the
// key whatever its text.
func keyVerifiers(pemKey string) (signer string, _ []signature.Verifier, _ error) {
	pub, err := v1alpha1.ParsePublicKey(pemKey)
	if err != nil {
		return "", nil, err
	}
	var out []signature.Verifier
	add := func(v signature.Verifier, err error) {
		if err == nil {
			out = append(out, v)
		}
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			add(signature.LoadECDSAVerifier(k, crypto.SHA256))
		case elliptic.P384():
			add(signature.LoadECDSAVerifier(k, crypto.SHA384))
			add(signature.LoadECDSAVerifier(k, crypto.SHA256))
		case elliptic.P521():
			add(signature.LoadECDSAVerifier(k, crypto.SHA512))
			add(signature.LoadECDSAVerifier(k, crypto.SHA256))
		}
	case *rsa.PublicKey:
		add(signature.LoadRSAPKCS1v15Verifier(k, crypto.SHA256))
	case ed25519.PublicKey:
		add(signature.LoadED25519phVerifier(k))
		add(signature.LoadED25519Verifier(k))
	}
	if len(out) == 0 {
		// v1alpha1.SupportedPublicKey and the cases above disagree: a key validation accepts
		// must never be one the verifier cannot use (TestKeyVerifiers).
		return "", nil, fmt.Errorf("cannot load a %T key", pub)
	}
	return v1alpha1.PublicKeyID(pub), out, nil
}

// verifiesClassic reports whether a signature of the .sig tag format verifies with the attestor's
// key and signs exactly digest h. cosign's own verification does the work. With transparencyLog
// Require, the signature's Rekor bundle (annotation) must also verify with a log key of the
// trusted root, offline; otherwise why says what the signature lacks.
func (a *attestor) verifiesClassic(ctx context.Context, sig oci.Signature, h v1.Hash) (ok bool, why string) {
	for _, v := range a.verifiers {
		co := &cosign.CheckOpts{SigVerifier: v, IgnoreTlog: true, IgnoreSCT: true, ClaimVerifier: cosign.SimpleClaimVerifier}
		if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
			continue
		}
		if a.tlog == nil {
			return true, ""
		}
		if rb, err := sig.Bundle(); err != nil || rb == nil {
			return false, "a legacy .sig signature by the key with no Rekor bundle (transparency-log entry), which the attestor requires (transparencyLog: Require)"
		}
		co.IgnoreTlog, co.Offline, co.TrustedMaterial = false, true, a.tlog
		if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
			return false, "a legacy .sig signature by the key whose Rekor bundle does not verify with a log key of the trusted root (" + shorten(err.Error()) + ")"
		}
		return true, ""
	}
	return false, ""
}

// verifiesBundle reports whether a Sigstore bundle verifies with the attestor's key and signs
// digest h: with predicate "", a DSSE in-toto statement of cosign's signature predicate whose
// subject is h, or a plain message signature over h; otherwise a DSSE in-toto statement of that
// predicate type whose subject is h (an attestation).
//
// With transparencyLog Require, the bundle must also carry a transparency-log entry that verifies
// with a log key of the attestor's trusted root, offline (inclusion promise and/or proof); why says
// what a bundle signed by the key lacks.
func (a *attestor) verifiesBundle(ctx context.Context, b *sgbundle.Bundle, h v1.Hash, predicate string) (ok bool, why string) {
	dig, err := hex.DecodeString(h.Hex)
	if err != nil {
		return false, ""
	}
	for _, v := range a.verifiers {
		co := &cosign.CheckOpts{SigVerifier: v, IgnoreTlog: true, IgnoreSCT: true}
		if _, err := cosign.VerifyNewBundle(ctx, co, sgverify.WithArtifactDigest(h.Algorithm, dig), b); err != nil {
			continue
		}
		if !bundleIs(b, predicate) {
			return false, ""
		}
		if a.tlog == nil {
			return true, ""
		}
		if entries, err := b.TlogEntries(); err != nil || len(entries) == 0 {
			return false, "a signature by the key with no transparency-log entry, which the attestor requires (transparencyLog: Require)"
		}
		co.IgnoreTlog, co.TrustedMaterial = false, a.tlog
		if _, err := cosign.VerifyNewBundle(ctx, co, sgverify.WithArtifactDigest(h.Algorithm, dig), b); err != nil {
			return false, "a signature by the key that fails the transparency-log check: " + explain(err)
		}
		return true, ""
	}
	return false, ""
}

// isSignatureBundle tells a signature from an attestation: sigstore-go has checked that the
// statement's subject is the digest, but an attestation of another predicate (provenance, SBOM)
// signed by the same key is not a signature of the image.
func isSignatureBundle(b *sgbundle.Bundle) bool { return bundleIs(b, "") }

// bundleIs reports whether a bundle is a signature (predicate "") or an attestation of predicate.
func bundleIs(b *sgbundle.Bundle, predicate string) bool {
	pt, dsse := bundlePredicate(b)
	if predicate == "" {
		return !dsse || pt == ctypes.CosignSignPredicateType
	}
	return dsse && pt == predicate
}

// bundlePredicate returns the predicate type of a bundle's in-toto statement (dsse true), or dsse
// false for a message signature. An unreadable statement has predicate type "".
func bundlePredicate(b *sgbundle.Bundle) (predicate string, dsse bool) {
	env, ok := b.Content.(*protobundle.Bundle_DsseEnvelope)
	if !ok {
		return "", false // a message signature over the digest itself
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(env.DsseEnvelope.GetPayload(), &st); err != nil {
		return "", true
	}
	return st.PredicateType, true
}
