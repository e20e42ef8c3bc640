package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/sealgate/sealgate/pkg/imageref"
)

// bundleArtifactPrefix starts the artifact type of a Sigstore bundle attached as an OCI referrer
// ("application/vnd.dev.sigstore.bundle.v0.3+json").
const bundleArtifactPrefix = "application/vnd.dev.sigstore.bundle"

// signatures is what the registry holds for one digest, read once and judged against every attestor.
type signatures struct {
	classic []oci.Signature
	bundles []*sgbundle.Bundle
	// found counts every signature seen, including the ones that could not be read.
	found int
	// skipped counts signatures over the MaxSignatures bound.
	skipped int
	// errs are registry or format errors met on the way; signatures read before them still count.
	errs []error
	// attestations are the bundles of in-toto statements of other predicates than cosign's
	// signature (provenance, SBOM), read only for a rule that requires attestations; attFound and
	// attSkipped count them as found and skipped count signatures.
	attestations         []*sgbundle.Bundle
	attFound, attSkipped int
}

// registry reads images and signatures through the guard transport.
type registry struct {
	opts      *Options
	transport http.RoundTripper
}

func (r *registry) nameOptions(reg string) []name.Option {
	o := []name.Option{name.StrictValidation}
	for _, h := range r.opts.InsecureRegistries {
		if h == reg {
			o = append(o, name.Insecure)
		}
	}
	return o
}

func (r *registry) remoteOptions(ctx context.Context, kc authn.Keychain) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(r.transport),
		remote.WithAuthFromKeychain(kc),
		// No retries: the deadline is short and a failure is cached only briefly.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithUserAgent("sealgate"),
	}
}

// resolve returns the digest a tag points to now.
func (r *registry) resolve(ctx context.Context, ref imageref.Reference, kc authn.Keychain) (string, error) {
	tag, err := name.NewTag(ref.Name()+":"+ref.Tag, r.nameOptions(ref.Registry)...)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(tag, r.remoteOptions(ctx, kc)...)
	if err != nil {
		return "", describeRegistryError(err)
	}
	d := desc.Digest.String()
	if err := imageref.ValidateDigest(d); err != nil {
		return "", fmt.Errorf("registry answered with an invalid digest: %w", err)
	}
	return d, nil
}

// fetch reads the signatures of repository@digest in both formats cosign writes: the legacy
// "sha256-<hex>.sig" tag and Sigstore bundles attached as OCI referrers (cosign v3's default), and,
// with withAttestations, the attestation bundles attached as OCI referrers.
func (r *registry) fetch(ctx context.Context, repository, digest string, kc authn.Keychain, withAttestations bool) (*signatures, v1.Hash, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	reg, _, _ := strings.Cut(repository, "/")
	d, err := name.NewDigest(repository+"@"+digest, r.nameOptions(reg)...)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	ropts := r.remoteOptions(ctx, kc)
	// One puller for the whole verification: the registry is pinged and authenticated once.
	p, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	ropts = append(ropts, remote.Reuse(p))
	// The two formats are read at once: each is two or three round trips, one after the other, and
	// neither needs the other's answer. The puller pings and authenticates once for both.
	classic, bundles := &signatures{}, &signatures{}
	together(func() { r.fetchClassic(d, ropts, classic) }, func() { r.fetchBundles(d, ropts, bundles, withAttestations) })
	if len(classic.errs) > 0 {
		// The registry failed: its failure is reported once, and nothing read beside it counts, as
		// when the formats were read one after the other and the bundles were not asked for.
		return classic, h, nil
	}
	return classic.merge(bundles), h, nil
}

// together runs f on a goroutine of its own and g on this one, and returns once both have. A panic
// in f is raised again here, on the admission's goroutine, whose recovery answers the request and
// counts it, as it would have had f run here (a panic on another goroutine ends the process).
func together(f, g func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { p = recover() }()
		f()
	}()
	g()
	<-done
	if p != nil {
		panic(p)
	}
}

// merge adds what o read to s and returns s.
func (s *signatures) merge(o *signatures) *signatures {
	s.classic = append(s.classic, o.classic...)
	s.bundles = append(s.bundles, o.bundles...)
	s.found += o.found
	s.skipped += o.skipped
	s.errs = append(s.errs, o.errs...)
	s.attestations = append(s.attestations, o.attestations...)
	s.attFound += o.attFound
	s.attSkipped += o.attSkipped
	return s
}

func (r *registry) fetchClassic(d name.Digest, ropts []remote.Option, out *signatures) {
	opts := []ociremote.Option{ociremote.WithRemoteOptions(ropts...)}
	// The tag is built here rather than by ociremote.SignatureTag, which a COSIGN_REPOSITORY
	// variable in sealgate's environment would redirect to another repository.
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	sigs, err := ociremote.Signatures(tag, opts...)
	if err != nil {
		out.errs = append(out.errs, fmt.Errorf("reading %s: %w", tag.TagStr(), describeRegistryError(err)))
		return
	}
	list, err := sigs.Get()
	if err != nil {
		out.errs = append(out.errs, fmt.Errorf("reading %s: %w", tag.TagStr(), describeRegistryError(err)))
		return
	}
	out.found += len(list)
	if len(list) > r.opts.MaxSignatures {
		out.skipped += len(list) - r.opts.MaxSignatures
		list = list[:r.opts.MaxSignatures]
	}
	for _, s := range list {
		// Copy reads the payload once (it is fetched lazily, and verified against its digest).
		c, err := static.Copy(s)
		if err != nil {
			out.errs = append(out.errs, fmt.Errorf("reading a signature of %s: %w", tag.TagStr(), describeRegistryError(err)))
			continue
		}
		out.classic = append(out.classic, c)
	}
}

func (r *registry) fetchBundles(d name.Digest, ropts []remote.Option, out *signatures, withAttestations bool) {
	idx, err := remote.Referrers(d, ropts...)
	if err != nil {
		out.errs = append(out.errs, fmt.Errorf("listing referrers: %w", describeRegistryError(err)))
		return
	}
	im, err := idx.IndexManifest()
	if err != nil {
		out.errs = append(out.errs, fmt.Errorf("listing referrers: %w", describeRegistryError(err)))
		return
	}
	opts := []ociremote.Option{ociremote.WithRemoteOptions(ropts...)}
	n, na := 0, 0
	for _, m := range im.Manifests {
		declared := strings.HasPrefix(m.ArtifactType, bundleArtifactPrefix)
		if !declared && !maybeBundle(m) {
			continue
		}
		if pt, ok := m.Annotations[ociremote.BundlePredicateType]; ok && pt != ctypes.CosignSignPredicateType {
			// An attestation (provenance, SBOM), not a signature: read only when a rule requires
			// attestations. The annotation only selects what is read; the verdict is on the
			// signed statement.
			if !withAttestations {
				continue
			}
			if na == r.opts.MaxSignatures {
				out.attFound++
				out.attSkipped++
				continue
			}
			na++
			b, err := ociremote.Bundle(d.Context().Digest(m.Digest.String()), opts...)
			if err != nil {
				if !declared && !isRegistryError(err) {
					continue
				}
				out.attFound++
				out.errs = append(out.errs, fmt.Errorf("reading attestation bundle %s: %w", m.Digest, describeRegistryError(err)))
				continue
			}
			out.attFound++
			out.attestations = append(out.attestations, b)
			continue
		}
		if n == r.opts.MaxSignatures {
			out.found++
			out.skipped++
			continue
		}
		n++
		b, err := ociremote.Bundle(d.Context().Digest(m.Digest.String()), opts...)
		if err != nil {
			if !declared && !isRegistryError(err) {
				continue // another kind of referrer
			}
			out.found++
			out.errs = append(out.errs, fmt.Errorf("reading bundle %s: %w", m.Digest, describeRegistryError(err)))
			continue
		}
		out.found++
		out.bundles = append(out.bundles, b)
		if withAttestations && !isSignatureBundle(b) {
			// An attestation without the predicate annotation: it does not count as a signature
			// (see isSignatureBundle), and is judged as an attestation too.
			out.attFound++
			out.attestations = append(out.attestations, b)
		}
	}
}

// maybeBundle reports whether a referrer whose artifact type is not a bundle's may still be one:
// some registries report the config media type (cosign's is the empty descriptor) instead of the
// manifest's artifactType, and the tag fallback index may carry no type at all.
func maybeBundle(m v1.Descriptor) bool {
	if _, ok := m.Annotations["dev.sigstore.bundle.content"]; ok {
		return true
	}
	return m.ArtifactType == "" || m.ArtifactType == "application/vnd.oci.empty.v1+json"
}

// isRegistryError tells a failure to talk to the registry from content that is not what was expected.
func isRegistryError(err error) bool {
	var te *transport.Error
	var ne net.Error
	return errors.As(err, &te) || errors.As(err, &ne) || errors.Is(err, errTooLarge) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), errTooLarge.Error())
}

// plainHTTPFallback is the part of go-containerregistry's error for its plain-HTTP fallback on
// loopback and private addresses, which the guard refuses; it only repeats the real failure.
var plainHTTPFallback = regexp.MustCompile(`; Get "http://[^"]*": refusing plain HTTP[^;]*--insecure-registry`)

// describeRegistryError keeps what a person can act on: the status and the registry's own words,
// or the limit that was hit.
func describeRegistryError(err error) error {
	if s := err.Error(); plainHTTPFallback.MatchString(s) {
		err = &cleanedError{msg: plainHTTPFallback.ReplaceAllString(s, ""), err: err}
	}
	if errors.Is(err, errTooLarge) || strings.Contains(err.Error(), errTooLarge.Error()) {
		return errTooLarge
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusTooManyRequests:
			return fmt.Errorf("registry rate limit (HTTP 429): %w", err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry denied access (HTTP %d); give sealgate pull credentials: %w", te.StatusCode, err)
		}
		if te.StatusCode >= 500 {
			return fmt.Errorf("registry error (HTTP %d): %w", te.StatusCode, err)
		}
	}
	return err
}

// cleanedError is err with a shorter message.
type cleanedError struct {
	msg string
	err error
}

func (e *cleanedError) Error() string { return e.msg }
func (e *cleanedError) Unwrap() error { return e.err }
