//go:build signatures

package signatures

import (
	"testing"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/verify"
)

const (
	ciIssuer  = "https://token.actions.githubusercontent.com"
	ciSubject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
)

// TestCheckKeyless runs `sealgate check` against images signed keyless by a virtual Sigstore:
// certificate identity, chain to the trusted root, and transparency-log evidence, all offline.
func TestCheckKeyless(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	good := newSigstore(t, dir, "good")
	rogue := newSigstore(t, dir, "rogue")
	exact := map[string]string{"issuer": ciIssuer, "subject": ciSubject}

	signed := r.push(t, "app", "signed")
	r.signKeyless(t, good, r.ref("app", signed), ciSubject, ciIssuer, keylessOpts{})
	otherSubject := "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"
	wrongSubject := r.push(t, "app", "wrong-subject")
	r.signKeyless(t, good, r.ref("app", wrongSubject), otherSubject, ciIssuer, keylessOpts{})
	untrustedCA := r.push(t, "app", "untrusted-ca")
	r.signKeyless(t, rogue, r.ref("app", untrustedCA), ciSubject, ciIssuer, keylessOpts{})
	noTlog := r.push(t, "app", "no-tlog")
	r.signKeyless(t, good, r.ref("app", noTlog), ciSubject, ciIssuer, keylessOpts{noTlog: true})
	noTlogTimestamped := r.push(t, "app", "no-tlog-timestamped")
	r.signKeyless(t, good, r.ref("app", noTlogTimestamped), ciSubject, ciIssuer, keylessOpts{noTlog: true, timestamp: true})
	otherDigest := r.push(t, "app", "other-digest")
	r.signKeyless(t, good, r.ref("app", otherDigest), ciSubject, ciIssuer, keylessOpts{otherDigest: signed})
	provenance := r.push(t, "app", "provenance")
	r.signKeyless(t, good, r.ref("app", provenance), ciSubject, ciIssuer, keylessOpts{predicate: "https://slsa.dev/provenance/v1"})

	require := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", good, exact, ""))
	ignore := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", good, exact, "Ignore"))

	admitted := func(t *testing.T, pol, ref string) {
		t.Helper()
		if out, code := check(t, r, pol, ref); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	}
	denied := func(t *testing.T, pol, ref string, want ...string) {
		t.Helper()
		out, code := check(t, r, pol, ref)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, want...)
		t.Log(out)
	}

	t.Run("identity matches", func(t *testing.T) { admitted(t, require, r.ref("app", signed)) })
	t.Run("subject mismatch names expected and found identity", func(t *testing.T) {
		denied(t, require, r.ref("app", wrongSubject), wrongSubject, "not by a trusted key or identity",
			`attestor "ci" found a signature by issuer "`+ciIssuer+`", subject "`+otherSubject+`"`,
			`expected issuer "`+ciIssuer+`", subject "`+ciSubject+`"`)
	})
	t.Run("issuer and subject regular expressions", func(t *testing.T) {
		pol := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", good,
			map[string]string{"issuerRegExp": `^https://token\.actions\.githubusercontent\.com$`, "subjectRegExp": `^https://github\.com/acme/`}, ""))
		admitted(t, pol, r.ref("app", signed))
		denied(t, pol, r.ref("app", wrongSubject), `subject matching "^https://github\\.com/acme/"`)
	})
	t.Run("issuer mismatch", func(t *testing.T) {
		pol := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", good,
			map[string]string{"issuer": "https://accounts.google.com", "subject": ciSubject}, ""))
		denied(t, pol, r.ref("app", signed), `expected issuer "https://accounts.google.com"`)
	})
	t.Run("certificate from an untrusted CA", func(t *testing.T) {
		denied(t, require, r.ref("app", untrustedCA), untrustedCA, "does not verify against the trusted root")
	})
	t.Run("tlog Require without a tlog entry", func(t *testing.T) {
		denied(t, require, r.ref("app", noTlog), noTlog, "no transparency-log entry", "transparencyLog: Require")
	})
	t.Run("tlog Ignore without a tlog entry", func(t *testing.T) { admitted(t, ignore, r.ref("app", noTlog)) })
	t.Run("tlog Ignore with a signed timestamp", func(t *testing.T) { admitted(t, ignore, r.ref("app", noTlogTimestamped)) })
	t.Run("tlog Ignore still checks the CA", func(t *testing.T) {
		denied(t, ignore, r.ref("app", untrustedCA), "does not verify against the trusted root")
	})
	t.Run("signature of another digest", func(t *testing.T) {
		denied(t, require, r.ref("app", otherDigest), otherDigest, "does not verify against the trusted root")
	})
	t.Run("an attestation is not a signature", func(t *testing.T) {
		denied(t, require, r.ref("app", provenance), provenance)
	})
	t.Run("tlog entry checked against the trusted root's log key", func(t *testing.T) {
		// The rogue root trusts neither the CA nor the log of the good Sigstore.
		pol := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", rogue, exact, ""))
		denied(t, pol, r.ref("app", signed), "does not verify against the trusted root")
	})
	t.Run("key and keyless attestors together", func(t *testing.T) {
		release := r.newKey(t, dir, "release")
		both := r.push(t, "app", "both")
		r.sign(t, dir, release, r.ref("app", both), bundleFormat)
		r.signKeyless(t, good, r.ref("app", both), ciSubject, ciIssuer, keylessOpts{})
		pol := writePolicyWith(t, dir, r, "Enforce", 2, map[string]any{"name": "release", "publicKey": release.pub},
			keylessAttestor("ci", good, exact, ""))
		admitted(t, pol, r.ref("app", both))
		denied(t, pol, r.ref("app", signed), `signed by 1 of the 2 attestors`, `verified "ci"`, `not verified "release"`)
	})
	t.Run("missing trusted root file fails closed", func(t *testing.T) {
		missing := &sigstore{rootFile: dir + "/nope.json"}
		pol := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", missing, exact, ""))
		denied(t, pol, r.ref("app", signed), "trusted root file "+dir+"/nope.json cannot be read", "fails closed")
	})
}

// TestWebhookKeyless: the admission handler gives the same verdict as check.
func TestWebhookKeyless(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	good := newSigstore(t, dir, "good")
	d := r.push(t, "app", "1")
	r.signKeyless(t, good, r.ref("app", d), ciSubject, ciIssuer, keylessOpts{})
	unsigned := r.push(t, "app", "2")
	pol := writePolicyWith(t, dir, r, "Enforce", 1, keylessAttestor("ci", good, map[string]string{"issuer": ciIssuer, "subjectRegExp": "^https://github.com/acme/"}, ""))
	h := webhook(t, r, pol, verify.Options{})
	if resp := review(t.Context(), h, "signed", r.ref("app", d)); !resp.Allowed {
		t.Fatalf("denied: %s", message(resp))
	}
	resp := review(t.Context(), h, "unsigned", r.ref("app", unsigned))
	if resp.Allowed {
		t.Fatal("unsigned image admitted")
	}
	wantContains(t, message(resp), unsigned, "has no cosign signature")
}
