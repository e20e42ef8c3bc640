//go:build signatures

package signatures

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/verify"
)

// TestReferrersTagFallback: a registry without the OCI referrers API. cosign v3 then attaches its
// bundle to the "sha256-<hex>" index of the referrers tag schema, and sealgate reads it there.
func TestReferrersTagFallback(t *testing.T) {
	r := newRegistryReferrers(t, false)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	pol := writePolicy(t, dir, r, "Enforce", 1, attestor{"release", release.pub})

	signedDigest := r.push(t, "app", "signed")
	signed := r.ref("app", signedDigest)
	r.sign(t, dir, release, signed, bundleFormat)
	unsignedDigest := r.push(t, "app", "unsigned")
	unsigned := r.ref("app", unsignedDigest)

	// The bundle is where the tag schema puts it, and the referrers API is not served.
	fallback, err := name.NewTag(r.host + "/app:" + "sha256-" + signedDigest[len("sha256:"):])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(fallback, remote.WithTransport(r.srv.Client().Transport)); err != nil {
		t.Fatalf("cosign did not write the referrers fallback tag %s: %v", fallback, err)
	}

	t.Run("check: signed", func(t *testing.T) {
		if out, code := check(t, r, pol, signed); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("check: unsigned", func(t *testing.T) {
		out, code := check(t, r, pol, unsigned)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, unsignedDigest, "has no cosign signature")
	})
	h := webhook(t, r, pol, verify.Options{})
	t.Run("webhook: signed", func(t *testing.T) {
		if resp := review(t.Context(), h, "signed", signed); !resp.Allowed {
			t.Fatalf("denied: %s", message(resp))
		}
	})
	t.Run("webhook: unsigned", func(t *testing.T) {
		resp := review(t.Context(), h, "unsigned", unsigned)
		if resp.Allowed {
			t.Fatal("admitted an unsigned image")
		}
		wantContains(t, message(resp), unsignedDigest, "has no cosign signature")
	})
}
