package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// defaultTrustedRootKey is the key read from a ConfigMap or Secret named by trustedRootRef when it
// gives none, the file name Sigstore clients use.
const defaultTrustedRootKey = v1alpha1.DefaultTrustedRootKeyName

// maxTrustedRootBytes bounds a trusted root read from a file, ConfigMap or Secret (the public-good
// root is about 10 KiB).
const maxTrustedRootBytes = 1 << 20

// keyless is a compiled keyless attestor: the certificate identity it trusts, the Sigstore trusted
// root its certificates must chain to, and whether transparency-log evidence is required.
type keyless struct {
	identity sgverify.CertificateIdentity
	want     string // the expected identity, for messages
	trusted  root.TrustedMaterial
	tlog     bool
}

func compileKeyless(ctx context.Context, secrets SecretReader, a *v1alpha1.Attestor) (*keyless, error) {
	k := a.Keyless
	if a.TrustedRootRef == nil {
		return nil, errors.New("keyless attestors need trustedRootRef (a Sigstore trusted_root.json): sealgate never fetches a trusted root over the network")
	}
	id, err := sgverify.NewShortCertificateIdentity(k.Issuer, k.IssuerRegExp, k.Subject, k.SubjectRegExp)
	if err != nil {
		return nil, fmt.Errorf("keyless identity: %w", err)
	}
	tr, err := loadTrustedRoot(ctx, secrets, a.TrustedRootRef)
	if err != nil {
		return nil, err
	}
	return &keyless{
		identity: id,
		want:     describeIdentity(k),
		trusted:  tr,
		tlog:     a.TransparencyLog != "Ignore", // Require is the default for keyless
	}, nil
}

// loadTrustedRoot reads and parses the trusted_root.json a TrustedRootRef names.
func loadTrustedRoot(ctx context.Context, secrets SecretReader, ref *v1alpha1.TrustedRootRef) (*root.TrustedRoot, error) {
	data, where, err := readTrustedRoot(ctx, secrets, ref)
	if err != nil {
		return nil, err
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s is not a Sigstore trusted_root.json: %w", where, err)
	}
	return tr, nil
}

// tlogMaterial is the part of a trusted root a key attestor uses: its transparency logs' keys,
// and no certificate authority, so that a certificate-signed bundle cannot pass for a key's.
type tlogMaterial struct {
	root.BaseTrustedMaterial
	logs map[string]*root.TransparencyLog
}

func (m *tlogMaterial) RekorLogs() map[string]*root.TransparencyLog { return m.logs }

// describeIdentity renders the identity an attestor expects: issuer "x" (or matching /re/), subject ...
func describeIdentity(k *v1alpha1.Keyless) string {
	part := func(exact, re string) string {
		if exact != "" {
			return strconv.Quote(exact)
		}
		return "matching " + strconv.Quote(re)
	}
	return "issuer " + part(k.Issuer, k.IssuerRegExp) + ", subject " + part(k.Subject, k.SubjectRegExp)
}

// readTrustedRoot reads the trusted_root.json a TrustedRootRef names, and says where it came from.
func readTrustedRoot(ctx context.Context, secrets SecretReader, ref *v1alpha1.TrustedRootRef) ([]byte, string, error) {
	switch {
	case ref.File != "":
		where := "file " + ref.File
		f, err := os.Open(ref.File)
		if err != nil {
			return nil, where, &loadError{fmt.Errorf("trusted root %s cannot be read: %w", where, err)}
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxTrustedRootBytes+1))
		if err != nil {
			return nil, where, &loadError{fmt.Errorf("trusted root %s cannot be read: %w", where, err)}
		}
		if len(b) > maxTrustedRootBytes {
			return nil, where, fmt.Errorf("trusted root %s is larger than %d bytes", where, maxTrustedRootBytes)
		}
		return b, where, nil
	case ref.ConfigMap != nil:
		r := ref.ConfigMap
		key := r.Key
		if key == "" {
			key = defaultTrustedRootKey
		}
		where := fmt.Sprintf("ConfigMap %s/%s key %q", r.Namespace, r.Name, key)
		if secrets == nil {
			return nil, where, fmt.Errorf("trusted root %s can only be read by sealgate serving in a cluster; use trustedRootRef.file", where)
		}
		data, err := secrets.ConfigMap(ctx, r.Namespace, r.Name)
		if err != nil {
			return nil, where, readerError("trusted root "+where, err)
		}
		v, ok := data[key]
		if !ok {
			return nil, where, fmt.Errorf("trusted root: %s has no key %q", where, key)
		}
		return []byte(v), where, nil
	case ref.Secret != nil:
		r := ref.Secret
		key := r.Key
		if key == "" {
			key = defaultTrustedRootKey
		}
		where := fmt.Sprintf("Secret %s/%s key %q", r.Namespace, r.Name, key)
		if secrets == nil {
			return nil, where, fmt.Errorf("trusted root %s can only be read by sealgate serving in a cluster; use trustedRootRef.file", where)
		}
		data, err := secrets.Secret(ctx, r.Namespace, r.Name)
		if err != nil {
			return nil, where, readerError("trusted root "+where, err)
		}
		v, ok := data[key]
		if !ok {
			return nil, where, fmt.Errorf("trusted root: %s has no key %q", where, key)
		}
		return v, where, nil
	}
	return nil, "", errors.New("trustedRootRef names neither a configMap, a secret nor a file")
}

// verifyBundle checks one Sigstore bundle against the keyless attestor, offline: the certificate
// chains to the trusted root's certificate authorities at a verified time, the signature covers
// digest h (and is a cosign signature, not an attestation), the transparency-log entry verifies
// against the trusted root's log keys when required, and the certificate's identity matches. With
// a predicate, the bundle must instead be an attestation of that predicate type. It returns "" when
// the bundle verifies, or why not.
func (k *keyless) verifyBundle(b *sgbundle.Bundle, h v1.Hash, predicate string) string {
	dig, err := hex.DecodeString(h.Hex)
	if err != nil {
		return "the digest is malformed"
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return "the bundle has no verification material"
	}
	cert := vc.Certificate()
	if cert == nil {
		return "a signature made with a key, not a Sigstore certificate"
	}
	found := "a certificate"
	if s, err := certificate.SummarizeCertificate(cert); err == nil {
		found = fmt.Sprintf("issuer %q, subject %q", s.Issuer, s.SubjectAlternativeName)
	}
	var opts []sgverify.VerifierOption
	if k.tlog {
		entries, err := b.TlogEntries()
		if err != nil || len(entries) == 0 {
			return "a signature by " + found + " with no transparency-log entry, which the attestor requires (transparencyLog: Require)"
		}
		// The entry's inclusion promise or proof is checked against the trusted root's log keys,
		// offline; its integrated time (or a signed timestamp) dates the short-lived certificate.
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
	} else if ts, err := b.Timestamps(); err == nil && len(ts) > 0 {
		opts = append(opts, sgverify.WithSignedTimestamps(1))
	} else {
		// No evidence of when it was signed: the certificate must be valid now, as cosign does
		// with --insecure-ignore-tlog.
		opts = append(opts, sgverify.WithCurrentTime())
	}
	ver, err := sgverify.NewVerifier(k.trusted, opts...)
	if err != nil {
		return "the trusted root cannot be used: " + err.Error()
	}
	res, err := ver.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest(h.Algorithm, dig), sgverify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return "a signature by " + found + " that does not verify against the trusted root: " + explain(err)
	}
	if predicate == "" && !isSignatureBundle(b) {
		return "an attestation by " + found + ", not a signature"
	}
	if predicate != "" && !bundleIs(b, predicate) {
		pt, _ := bundlePredicate(b)
		return fmt.Sprintf("an attestation by %s of predicate type %q, not %q", found, pt, predicate)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return "a signature without a certificate identity"
	}
	if err := k.identity.Verify(*res.Signature.Certificate); err != nil {
		return fmt.Sprintf("a signature by %s, expected %s", found, k.want)
	}
	return ""
}

// explain says what a sigstore-go verification error means, keeping its words.
func explain(err error) string {
	s := shorten(err.Error())
	switch {
	case strings.Contains(s, "leaf certificate verification failed"):
		return "its certificate does not chain to a certificate authority of the trusted root (" + s + ")"
	case strings.Contains(s, "not enough verified log entries"):
		return "its transparency-log entry does not verify with a log key of the trusted root (" + s + ")"
	case strings.Contains(s, "artifact digest does not match"):
		return "it signs another digest (" + s + ")"
	}
	return s
}

// shorten keeps a verification error to one readable line.
func shorten(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// loadError marks a failure to read an attestor's material that may pass (an API or file error),
// as opposed to material that is wrong: it is cached briefly, like a registry error.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// readerError says what reading a Secret or ConfigMap for `what` met: not found is the user's to
// fix; anything else may pass.
func readerError(what string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &loadError{fmt.Errorf("%s cannot be read: %w", what, err)}
}
