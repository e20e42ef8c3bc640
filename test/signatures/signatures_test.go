//go:build signatures

package signatures

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/verify"
)

// TestCheckKeyBased runs `sealgate check` against images signed (or not) by the real cosign, in
// both formats cosign writes.
func TestCheckKeyBased(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	other := r.newKey(t, dir, "other")
	pol := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})

	bundled := r.ref("app", r.push(t, "app", "bundle"))
	r.sign(t, dir, release, bundled, bundleFormat)
	classic := r.ref("app", r.push(t, "app", "classic"))
	r.sign(t, dir, release, classic, classicFormat)
	unsignedDigest := r.push(t, "app", "unsigned")
	unsigned := r.ref("app", unsignedDigest)
	foreignDigest := r.push(t, "app", "foreign")
	foreign := r.ref("app", foreignDigest)
	r.sign(t, dir, other, foreign, bundleFormat)
	r.sign(t, dir, other, foreign, classicFormat)

	t.Run("signed by the trusted key, bundle format", func(t *testing.T) {
		if out, code := check(t, r, pol, bundled); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("signed by the trusted key, .sig format", func(t *testing.T) {
		if out, code := check(t, r, pol, classic); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		out, code := check(t, r, pol, unsigned)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, "spec.containers[0].image", unsignedDigest, "has no cosign signature", `"release"`)
	})
	t.Run("signed by another key", func(t *testing.T) {
		out, code := check(t, r, pol, foreign)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, foreignDigest, "not by a trusted key", "2 signature(s) checked")
	})
	t.Run("skip signatures", func(t *testing.T) {
		// --skip-signatures never calls the registry: the verdict ignores the missing signature.
		var sb strings.Builder
		f := dir + "/pod-skip.yaml"
		writeFile(t, f, podJSON(unsigned))
		code := cli.Execute(t.Context(), []string{"check", "--skip-signatures", "--policy", pol, "-f", f}, cli.IO{In: strings.NewReader(""), Out: &sb, Err: &sb})
		if code != cli.ExitOK {
			t.Fatalf("exit %d:\n%s", code, sb.String())
		}
	})
}

// TestCheckTags covers tags under a signature rule: pinned digests are what is verified, a tag
// alone is denied in Enforce with the digest to pin, and resolved and verified in Warn.
func TestCheckTags(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	enforce := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})
	warn := writePolicy(t, dir, r, "Warn", 1, attestor{"release", release.pub})

	signed := r.push(t, "app", "1.2")
	r.sign(t, dir, release, r.ref("app", signed), bundleFormat)
	unsigned := r.push(t, "app", "other")

	t.Run("tag signed but pinned to an unsigned digest", func(t *testing.T) {
		out, code := check(t, r, enforce, r.host+"/app:1.2@"+unsigned)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, unsigned, "has no cosign signature")
	})
	t.Run("tag and its signed digest", func(t *testing.T) {
		if out, code := check(t, r, enforce, r.host+"/app:1.2@"+signed); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("tag only in Enforce", func(t *testing.T) {
		out, code := check(t, r, enforce, r.host+"/app:1.2")
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, "referenced by tag", "the tag points to "+signed, fmt.Sprintf("%q", r.host+"/app:1.2@"+signed))
	})
	t.Run("tag only in Warn", func(t *testing.T) {
		out, code := check(t, r, warn, r.host+"/app:1.2")
		if code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted with a warning:\n%s", code, out)
		}
		wantContains(t, out, "referenced by tag", signed, "its signature verified")
	})
}

// TestThreshold needs two distinct attestors.
func TestThreshold(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	ci := r.newKey(t, dir, "ci")
	pol := writePolicy(t, dir, r, "Enforce", 2, attestor{"release", release.pub}, attestor{"ci", ci.pub})
	d := r.push(t, "app", "1")
	ref := r.ref("app", d)

	r.sign(t, dir, release, ref, bundleFormat)
	r.sign(t, dir, release, ref, classicFormat) // a second signature by the same key counts once
	out, code := check(t, r, pol, ref)
	if code != cli.ExitDenied {
		t.Fatalf("one signer: exit %d, want denied:\n%s", code, out)
	}
	wantContains(t, out, d, "signed by 1 of the 2 attestors", `verified "release"`, `not verified "ci"`)

	r.sign(t, dir, ci, ref, bundleFormat)
	if out, code := check(t, r, pol, ref); code != cli.ExitOK {
		t.Fatalf("two signers: exit %d, want admitted:\n%s", code, out)
	}
}

// TestWebhookTagMoved verifies the digest a tag points to at each admission: a result cached for
// the old digest is never used for the new one.
func TestWebhookTagMoved(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	pol := writePolicy(t, dir, r, "Warn", 1, attestor{"release", release.pub})
	first := r.push(t, "app", "1.2")
	r.sign(t, dir, release, r.ref("app", first), bundleFormat)
	h := webhook(t, r, pol, verify.Options{})

	resp := review(t.Context(), h, "first", r.host+"/app:1.2")
	wantContains(t, message(resp), first, "its signature verified")

	second := r.push(t, "app", "next")
	r.tool(t, dir, "crane", "tag", r.ref("app", second), "1.2") // move the tag with the real crane
	resp = review(t.Context(), h, "second", r.host+"/app:1.2")
	if !resp.Allowed {
		t.Fatalf("Warn mode denied: %s", message(resp))
	}
	wantContains(t, message(resp), second, "has no cosign signature")
}

// TestWebhookOneVerificationFor100Pods: concurrent admissions of one image share one verification.
func TestWebhookOneVerificationFor100Pods(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	pol := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})
	d := r.push(t, "app", "1")
	r.sign(t, dir, release, r.ref("app", d), bundleFormat)
	rec := &counter{}
	h := webhook(t, r, pol, verify.Options{Metrics: rec})

	var wg sync.WaitGroup
	denied := make(chan string, 100)
	for i := range 100 {
		wg.Go(func() {
			if resp := review(t.Context(), h, fmt.Sprint(i), r.ref("app", d)); !resp.Allowed {
				denied <- message(resp)
			}
		})
	}
	wg.Wait()
	close(denied)
	for m := range denied {
		t.Errorf("denied: %s", m)
	}
	if n := rec.total(); n != 1 {
		t.Errorf("verifications = %d (%v), want 1", n, rec.verifications)
	}
	if rec.hits+rec.misses != 100 {
		t.Errorf("cache lookups = %d hits + %d misses, want 100", rec.hits, rec.misses)
	}
}

// TestWebhookRegistryFaults: whatever goes wrong at the registry, an Enforce policy denies before
// the deadline and says what failed.
func TestWebhookRegistryFaults(t *testing.T) {
	const deadline = 2 * time.Second
	cases := []struct {
		name      string
		fault     func(*testRegistry)
		want      string
		untrusted bool // sealgate does not trust the registry's CA
	}{
		{"TLS certificate not trusted", func(*testRegistry) {}, "certificate signed by unknown authority", true},
		{"stopped", func(r *testRegistry) { r.srv.Close() }, "connection refused", false},
		{"slow", func(r *testRegistry) { r.delay.Store(int64(10 * time.Second)) }, "did not answer within 500ms", false},
		{"5xx", func(r *testRegistry) { r.status.Store(http.StatusServiceUnavailable) }, "503", false},
		{"429", func(r *testRegistry) { r.status.Store(http.StatusTooManyRequests) }, "429", false},
		{"oversized signature data", func(r *testRegistry) { r.huge.Store(true) }, "size limit", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry(t)
			dir := t.TempDir()
			release := r.newKey(t, dir, "release")
			pol := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})
			d := r.push(t, "app", "1")
			r.sign(t, dir, release, r.ref("app", d), bundleFormat)
			r.sign(t, dir, release, r.ref("app", d), classicFormat)
			o := verify.Options{Timeout: deadline, RegistryTimeout: 500 * time.Millisecond}
			if tc.untrusted {
				o.RootCAs = x509.NewCertPool()
			}
			h := webhook(t, r, pol, o)

			tc.fault(r)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // the API server's webhook timeout
			defer cancel()
			start := time.Now()
			resp := review(ctx, h, "fault", r.ref("app", d))
			elapsed := time.Since(start)
			if resp.Allowed {
				t.Fatalf("admitted with the registry %s", tc.name)
			}
			if elapsed > deadline+500*time.Millisecond {
				t.Errorf("answered after %s, want within the %s deadline", elapsed, deadline)
			}
			wantContains(t, message(resp), r.ref("app", d), "spec.containers[0].image", tc.want, "fails closed")
			t.Logf("%s: %s", elapsed, message(resp))
		})
	}
}
