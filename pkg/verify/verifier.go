// Package verify checks cosign signatures on image digests for the signature rules of sealgate
// policies. It implements engine.Signatures.
//
// For every image of a pod that the policy's allowlist admits and a signature rule covers, the
// verifier pins the image to a digest (a tag under a rule in Enforce mode is denied with the digest
// to pin), reads the signatures stored next to that digest in both formats cosign writes (the
// "sha256-<hex>.sig" tag and Sigstore bundles attached as OCI referrers), and counts the distinct
// signers (attestors holding one key are one) that one of them verifies for, with cosign's and
// sigstore-go's own verification functions: a key (inline or from a Secret), or a keyless identity whose certificate chains to a
// Sigstore trusted root, with its transparency-log entry checked against that root's log keys.
// Verification is offline: no transparency log, certificate authority or TUF repository is
// contacted, only the image's registry (with the pod's image pull secrets in a cluster).
//
// Results are cached per repository, digest, policy generation and rule; concurrent requests for
// the same key share one verification; every registry call has a deadline and a size bound.
//
// The same client reads image configs (user, environment) for the image-config rule; it implements
// engine.ImageConfigs (imageconfig.go). Both share one request's tag resolutions, credentials and
// deadline (session.go).
package verify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/oci"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"golang.org/x/sync/singleflight"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// Result kinds, also the values of the verification metric's result label.
const (
	resultVerified    = "verified"
	resultUnsigned    = "unsigned"
	resultUntrusted   = "untrusted"
	resultThreshold   = "threshold"
	resultUnsupported = "unsupported"
	resultError       = "error"
)

// maxParallelImages bounds the images of one pod verified at once.
const maxParallelImages = 8

// Verifier verifies image signatures. It is safe for concurrent use; create it once per process.
type Verifier struct {
	opts  Options
	reg   *registry
	cache *cache
	group singleflight.Group
	// configs caches image configs (imageconfig.go); configGroup shares concurrent reads.
	configs     *lru[configKey, configResult]
	configGroup singleflight.Group
}

// New returns a Verifier with o's defaults filled in.
func New(o Options) *Verifier {
	o.defaults()
	v := &Verifier{opts: o, cache: newCache(o.CacheSize, o.Now), configs: newLRU[configKey, configResult](o.ConfigCacheSize, o.Now)}
	v.reg = &registry{opts: &v.opts, transport: newTransport(&v.opts)}
	return v
}

// result is the outcome of verifying one digest against one signature rule; it is cached.
type result struct {
	kind string
	// detail says what failed, after the image name: "has no cosign signature ...".
	detail string
}

func (r result) ok() bool { return r.kind == resultVerified }

// Verify implements engine.Signatures: one finding per image that fails a signature rule.
func (v *Verifier) Verify(ctx context.Context, p *policy.Policy, t *rules.Target) []rules.Finding {
	sess := v.session(t)
	ctx, cancel := sess.bound(ctx)
	defer cancel()
	type job struct {
		im      *rules.Image
		rules   []*policy.Signature
		finding *rules.Finding
	}
	var jobs []job
	images := t.Images()
	for i := range images {
		im := &images[i]
		if im.Err != nil || !rules.AllowedImage(p, im) {
			continue // denied by the allowlist or deny-list already: never a registry call
		}
		var matched []*policy.Signature
		for j := range p.Signatures {
			for _, pat := range p.Signatures[j].Images {
				if pat.Match(im.Ref) {
					matched = append(matched, &p.Signatures[j])
					break
				}
			}
		}
		if len(matched) > 0 {
			jobs = append(jobs, job{im: im, rules: matched})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelImages)
	for i := range jobs {
		j := &jobs[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			j.finding = v.checkImage(ctx, p, j.im, j.rules, sess)
		})
	}
	wg.Wait()
	var out []rules.Finding
	for i := range jobs {
		if f := jobs[i].finding; f != nil {
			out = append(out, *f)
		}
	}
	return out
}

func finding(im *rules.Image, msg string) *rules.Finding {
	return &rules.Finding{Path: im.Path(), Container: im.OwnerName(), Message: msg}
}

// checkImage verifies one image against the signature rules that cover it.
func (v *Verifier) checkImage(ctx context.Context, p *policy.Policy, im *rules.Image, sigRules []*policy.Signature, sess *session) *rules.Finding {
	creds, pod := sess.creds, sess.pod
	ref := im.Ref
	digest := ref.Digest
	tagged := digest == ""
	if tagged {
		// The tag is resolved with the credentials of every rule that covers the image, once per
		// request: an image-config read of the same tag reuses the answer.
		d, err := sess.resolve(ctx, ref, v.keychain(creds.forRules(sigRules...), pod))
		if err != nil {
			return finding(im, fmt.Sprintf("image %q is referenced by tag and sealgate could not resolve the tag to a digest to verify its signature: %v; "+
				"sealgate fails closed: pin the image by digest, or retry when the registry answers", im.Raw, err))
		}
		digest = d
		if p.Mode == v1alpha1.ModeEnforce {
			return finding(im, fmt.Sprintf("image %q is referenced by tag, but signatures are verified on a digest and a tag can move after verification: "+
				"the tag points to %s now; pin it as %q", im.Raw, d, ref.WithDigest(d)))
		}
	}
	var problems []string
	for _, s := range sigRules {
		rc := creds.forRules(s)
		if r := v.verifyDigest(ctx, p, s, ref, digest, rc, v.keychain(rc, pod)); !r.ok() {
			problems = append(problems, r.detail)
		}
	}
	pinned := ref.WithDigest(digest)
	if tagged {
		// Warn and Audit: the tag is reported with the digest to pin, and what the digest showed.
		msg := fmt.Sprintf("image %q is referenced by tag; the tag points to %s now; pin it as %q", im.Raw, digest, pinned)
		if len(problems) == 0 {
			return finding(im, msg+" (its signature verified)")
		}
		return finding(im, msg+"; that digest "+strings.Join(problems, "; "))
	}
	if len(problems) == 0 {
		return nil
	}
	return finding(im, fmt.Sprintf("image %s %s", pinned, strings.Join(problems, "; ")))
}

// verifyDigest answers from the cache, or verifies once for every concurrent caller.
//
// A success is about the digest and is shared by every namespace (a namespace without credentials
// for the registry cannot pull the image anyway). Any other result may come from the credentials
// used (a 401 with one namespace's pull secret), so it is cached, and shared between concurrent
// callers, only within one credential scope: namespace, ServiceAccount, pull secrets and the rule's
// registryCredentials Secret.
func (v *Verifier) verifyDigest(ctx context.Context, p *policy.Policy, s *policy.Signature, ref imageref.Reference, digest string,
	creds *pullCredentials, kc authn.Keychain) result {
	shared := cacheKey{Repository: ref.Name(), Digest: digest, Policy: p.Name, Generation: p.Generation, Rule: s.Index}
	k := shared
	k.Scope = creds.scope()
	lookup := func() (result, bool) {
		if r, ok := v.cache.get(shared); ok && r.ok() {
			return r, true
		}
		return v.cache.get(k)
	}
	if r, ok := lookup(); ok {
		v.opts.Metrics.SignatureCache(true)
		return r
	}
	v.opts.Metrics.SignatureCache(false)
	flight := k.Repository + "@" + k.Digest + "\x00" + k.Policy + "\x00" + strconv.FormatInt(k.Generation, 10) + "\x00" + strconv.Itoa(k.Rule) + "\x00" + k.Scope
	ch := v.group.DoChan(flight, func() (any, error) {
		if r, ok := lookup(); ok {
			return r, nil // finished by another flight between our lookup and this one
		}
		// The shared verification must not die with the first caller's request: it gets its own
		// deadline, and its result serves every waiter and the cache.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.Timeout)
		defer cancel()
		start := time.Now()
		r := v.verify(vctx, s, k.Repository, digest, kc)
		v.opts.Metrics.SignatureVerification(r.kind, time.Since(start))
		ttl, key := v.opts.FailureTTL, k
		switch r.kind {
		case resultVerified:
			ttl, key = v.opts.SuccessTTL, shared
		case resultError:
			ttl = v.opts.ErrorTTL
		}
		v.cache.put(key, r, ttl)
		return r, nil
	})
	select {
	case res := <-ch:
		return res.Val.(result)
	case <-ctx.Done():
		return result{kind: resultError, detail: fmt.Sprintf("could not be verified before the deadline (%s) for spec.signatures[%d]; sealgate fails closed, retry shortly",
			v.opts.Timeout, s.Index)}
	}
}

// verify reads the signatures of repository@digest and judges them against one signature rule.
func (v *Verifier) verify(ctx context.Context, s *policy.Signature, repository, digest string, kc authn.Keychain) result {
	where := "spec.signatures[" + strconv.Itoa(s.Index) + "]"
	atts := v.compileAttestors(ctx, s.Rule)
	var unsupported []string
	var usable []int
	transient := false
	for i, a := range atts {
		if a.unsupported != "" {
			unsupported = append(unsupported, fmt.Sprintf("attestor %q cannot be checked: %s", a.name, a.unsupported))
			transient = transient || a.transient
		} else {
			usable = append(usable, i)
		}
	}
	threshold := max(s.Rule.Threshold, 1)
	if len(usable) < threshold {
		kind := resultUnsupported
		if transient {
			kind = resultError // a read that may succeed shortly: cached like a registry error
		}
		return result{kind: kind, detail: fmt.Sprintf("cannot be verified: %s needs %d attestor(s) but only %d can be checked by this sealgate (%s); sealgate fails closed",
			where, threshold, len(usable), strings.Join(unsupported, "; "))}
	}
	// Keys are known once loaded: two Secrets may hold one key, which validation cannot see. No
	// signature can meet a threshold above the number of distinct signers, so the registry is not asked.
	if signers, shared := countSigners(atts, usable); signers < threshold {
		detail := fmt.Sprintf("cannot be verified: %s needs %d distinct signers, but %s, so at most %d can verify; list each key once; sealgate fails closed",
			where, threshold, strings.Join(shared, "; "), signers)
		for _, u := range unsupported {
			detail += "; " + u
		}
		return result{kind: resultUnsupported, detail: detail}
	}

	sigs, h, err := v.reg.fetch(ctx, repository, digest, kc, len(s.Rule.Attestations) > 0)
	if err != nil {
		return result{kind: resultError, detail: fmt.Sprintf("cannot be verified: %v", err)}
	}
	var verified, missing, reasons []string
	var verifiedIdx []int
	for _, i := range usable {
		a := &atts[i]
		ok, why := v.anyVerifies(ctx, a, sigs.classic, sigs.bundles, h, "")
		if ok {
			verified = append(verified, strconv.Quote(a.name))
			verifiedIdx = append(verifiedIdx, i)
			continue
		}
		missing = append(missing, strconv.Quote(a.name))
		if len(why) > 0 {
			reasons = append(reasons, fmt.Sprintf("attestor %q found %s", a.name, strings.Join(why, "; ")))
		}
	}
	signers, shared := countSigners(atts, verifiedIdx)
	if signers >= threshold {
		return v.verifyAttestations(ctx, s, atts, usable, sigs, h, threshold, unsupported)
	}

	var b strings.Builder
	kind := resultThreshold
	switch {
	case len(sigs.errs) > 0:
		kind = resultError
		fmt.Fprintf(&b, "could not be verified: reading its signatures from the registry failed: %s", joinErrors(sigs.errs))
		if len(verified) > 0 {
			fmt.Fprintf(&b, " (verified so far: %s of the %d attestor(s) %s requires)", strings.Join(verified, ", "), threshold, where)
		}
		b.WriteString("; sealgate fails closed")
	case sigs.found == 0:
		kind = resultUnsigned
		fmt.Fprintf(&b, "has no cosign signature: sealgate looked for the tag %s.sig and for Sigstore bundles attached as OCI referrers; "+
			"%s requires a signature by %s", strings.Replace(digest, ":", "-", 1), where, strings.Join(missing, " or "))
	case len(verified) == 0:
		kind = resultUntrusted
		fmt.Fprintf(&b, "is signed, but not by a trusted key or identity: %d signature(s) checked against the attestors of %s (%s)",
			sigs.found-sigs.skipped, where, strings.Join(missing, ", "))
	default:
		fmt.Fprintf(&b, "is signed by %d of the %d attestors %s requires (threshold %d): verified %s; not verified %s",
			signers, threshold, where, threshold, strings.Join(verified, ", "), strings.Join(missing, ", "))
	}
	for _, sh := range shared {
		b.WriteString("; ")
		b.WriteString(sh)
	}
	for _, r := range reasons {
		b.WriteString("; ")
		b.WriteString(r)
	}
	if sigs.skipped > 0 {
		fmt.Fprintf(&b, "; only the first %d signatures of each format were read, %d were ignored", v.opts.MaxSignatures, sigs.skipped)
	}
	for _, u := range unsupported {
		b.WriteString("; ")
		b.WriteString(u)
	}
	return result{kind: kind, detail: b.String()}
}

// verifyAttestations judges the attestations a rule requires, once its signatures verified: for
// each predicate type, threshold distinct signers among the usable attestors (atts[i] for i in
// usable) must each have signed an in-toto attestation of that type whose subject is the digest.
func (v *Verifier) verifyAttestations(ctx context.Context, s *policy.Signature, atts []attestor, usable []int, sigs *signatures, h v1.Hash,
	threshold int, unsupported []string) result {
	if len(s.Rule.Attestations) == 0 {
		return result{kind: resultVerified}
	}
	where := "spec.signatures[" + strconv.Itoa(s.Index) + "]"
	var problems []string
	kind := resultVerified
	worse := func(k string) {
		// error > unsigned > untrusted > threshold: the most actionable kind is reported.
		rank := map[string]int{resultVerified: 0, resultThreshold: 1, resultUntrusted: 2, resultUnsigned: 3, resultError: 4}
		if rank[k] > rank[kind] {
			kind = k
		}
	}
	for i, ar := range s.Rule.Attestations {
		pt := ar.PredicateType
		field := fmt.Sprintf("%s.attestations[%d]", where, i)
		var verified, missing, reasons []string
		var verifiedIdx []int
		for _, j := range usable {
			a := &atts[j]
			ok, why := v.anyVerifies(ctx, a, nil, sigs.attestations, h, pt)
			if ok {
				verified = append(verified, strconv.Quote(a.name))
				verifiedIdx = append(verifiedIdx, j)
				continue
			}
			missing = append(missing, strconv.Quote(a.name))
			if len(why) > 0 {
				reasons = append(reasons, fmt.Sprintf("attestor %q found %s", a.name, strings.Join(why, "; ")))
			}
		}
		signers, shared := countSigners(atts, verifiedIdx)
		if signers >= threshold {
			continue
		}
		var b strings.Builder
		of := 0 // attestations of this predicate type, as the statements say (before verification)
		var others []string
		for _, ab := range sigs.attestations {
			if p, _ := bundlePredicate(ab); p == pt {
				of++
			} else if q := strconv.Quote(p); !slices.Contains(others, q) {
				others = append(others, q)
			}
		}
		switch {
		case len(sigs.errs) > 0 && of == 0:
			worse(resultError)
			fmt.Fprintf(&b, "could not be verified: reading its attestations from the registry failed: %s; sealgate fails closed", joinErrors(sigs.errs))
		case of == 0:
			worse(resultUnsigned)
			fmt.Fprintf(&b, "has no attestation of predicate type %q, which %s requires, signed by %s; sealgate looked for Sigstore bundles attached as OCI referrers",
				pt, field, strings.Join(missing, " or "))
			if len(others) > 0 {
				fmt.Fprintf(&b, " and found attestations of predicate type(s) %s only", strings.Join(others, ", "))
			}
		case len(verified) == 0:
			worse(resultUntrusted)
			fmt.Fprintf(&b, "has an attestation of predicate type %q (%s), but not signed by a trusted key or identity: %d attestation(s) of that type checked against the attestors of %s (%s)",
				pt, field, of, where, strings.Join(missing, ", "))
		default:
			worse(resultThreshold)
			fmt.Fprintf(&b, "is attested with predicate type %q (%s) by %d of the %d attestors %s requires (threshold %d): verified %s; not verified %s",
				pt, field, signers, threshold, where, threshold, strings.Join(verified, ", "), strings.Join(missing, ", "))
		}
		for _, sh := range shared {
			b.WriteString("; ")
			b.WriteString(sh)
		}
		for _, r := range reasons {
			b.WriteString("; ")
			b.WriteString(r)
		}
		problems = append(problems, b.String())
	}
	if len(problems) == 0 {
		return result{kind: resultVerified}
	}
	detail := strings.Join(problems, "; ")
	if sigs.attSkipped > 0 {
		detail += fmt.Sprintf("; only the first %d attestations were read, %d were ignored", v.opts.MaxSignatures, sigs.attSkipped)
	}
	for _, u := range unsupported {
		detail += "; " + u
	}
	return result{kind: kind, detail: detail}
}

// maxReasons bounds the distinct reasons reported per keyless attestor.
const maxReasons = 3

// anyVerifies reports whether one of the signatures (predicate "") or attestations of predicate
// verifies for the attestor and, for a keyless attestor that none verifies for, what they were
// instead.
func (v *Verifier) anyVerifies(ctx context.Context, a *attestor, classic []oci.Signature, bundles []*sgbundle.Bundle, h v1.Hash, predicate string) (bool, []string) {
	if a.keyless != nil {
		var why []string
		seen := map[string]bool{}
		for _, b := range bundles {
			r := a.keyless.verifyBundle(b, h, predicate)
			if r == "" {
				return true, nil
			}
			if !seen[r] && len(why) < maxReasons {
				seen[r] = true
				why = append(why, r)
			}
		}
		if len(classic) > 0 {
			why = append(why, fmt.Sprintf("%d legacy .sig signature(s), which sealgate checks against key attestors only", len(classic)))
		}
		return false, why
	}
	var why []string
	seen := map[string]bool{}
	note := func(r string) {
		if r != "" && !seen[r] && len(why) < maxReasons {
			seen[r] = true
			why = append(why, r)
		}
	}
	if predicate == "" {
		for _, s := range classic {
			ok, r := a.verifiesClassic(ctx, s, h)
			if ok {
				return true, nil
			}
			note(r)
		}
	}
	for _, b := range bundles {
		ok, r := a.verifiesBundle(ctx, b, h, predicate)
		if ok {
			return true, nil
		}
		note(r)
	}
	return false, why
}

// joinErrors lists distinct errors once each, on one line.
func joinErrors(errs []error) string {
	seen := map[string]bool{}
	var parts []string
	for _, err := range errs {
		s := err.Error()
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}
