//go:build signatures

package signatures

import (
	"testing"

	"github.com/sealgate/sealgate/pkg/cli"
)

const (
	slsaV1     = "https://slsa.dev/provenance/v1"
	spdxJSON   = "https://spdx.dev/Document"
	provenance = `{"buildDefinition":{"buildType":"https://example.com/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/ci"}}}`
)

// attestationPolicy requires signatures by the attestors and attestations of predicateTypes.
func attestationPolicy(t *testing.T, dir string, r *testRegistry, threshold int, predicateTypes []string, as ...map[string]any) string {
	t.Helper()
	var ats []any
	for _, pt := range predicateTypes {
		ats = append(ats, map[string]any{"predicateType": pt})
	}
	return writePolicyRule(t, dir, r, "Enforce", map[string]any{"images": []string{r.host + "/**"}, "threshold": threshold,
		"attestors": as, "attestations": ats})
}

// TestAttestationsKeyBased: attestations made by the real `cosign attest`, as Sigstore bundles
// attached as OCI referrers, checked by `sealgate check` with the rule's key attestors.
func TestAttestationsKeyBased(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	release := r.newKey(t, dir, "release")
	ci := r.newKey(t, dir, "ci")
	other := r.newKey(t, dir, "other")
	relA := map[string]any{"name": "release", "publicKey": release.pub}
	ciA := map[string]any{"name": "ci", "publicKey": ci.pub}
	pol := attestationPolicy(t, dir, r, 1, []string{slsaV1}, relA)

	// signed and attested: the image is signed, and has SLSA provenance, both by release.
	image := func(tag string) (string, string) {
		d := r.push(t, "app", tag)
		ref := r.ref("app", d)
		r.sign(t, dir, release, ref, bundleFormat)
		return d, ref
	}
	_, attested := image("attested")
	r.attest(t, dir, release, attested, "slsaprovenance1", provenance)
	missingD, missing := image("missing")
	otherTypeD, otherType := image("other-type")
	r.attest(t, dir, release, otherType, "spdxjson", `{"spdxVersion":"SPDX-2.3"}`)
	foreignD, foreign := image("foreign")
	r.attest(t, dir, other, foreign, "slsaprovenance1", provenance)
	unsignedD := r.push(t, "app", "attested-unsigned")
	unsigned := r.ref("app", unsignedD)
	r.attest(t, dir, release, unsigned, "slsaprovenance1", provenance)

	t.Run("attested by the attestor", func(t *testing.T) {
		if out, code := check(t, r, pol, attested); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("no attestation", func(t *testing.T) {
		out, code := check(t, r, pol, missing)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, "spec.containers[0].image", missingD, `has no attestation of predicate type "`+slsaV1+`"`,
			"spec.signatures[0].attestations[0]", `"release"`)
	})
	t.Run("attestation of another predicate type", func(t *testing.T) {
		out, code := check(t, r, pol, otherType)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, otherTypeD, `has no attestation of predicate type "`+slsaV1+`"`, `found attestations of predicate type(s) "`+spdxJSON+`" only`)
	})
	t.Run("attested by another key", func(t *testing.T) {
		out, code := check(t, r, pol, foreign)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, foreignD, `has an attestation of predicate type "`+slsaV1+`"`, "not signed by a trusted key or identity")
	})
	t.Run("an attestation is not a signature", func(t *testing.T) {
		out, code := check(t, r, pol, unsigned)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, unsignedD, "has no cosign signature")
	})
	t.Run("two predicate types", func(t *testing.T) {
		both := attestationPolicy(t, dir, r, 1, []string{slsaV1, spdxJSON}, relA)
		out, code := check(t, r, both, attested)
		if code != cli.ExitDenied {
			t.Fatalf("exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, `has no attestation of predicate type "`+spdxJSON+`"`, "spec.signatures[0].attestations[1]")
		r.attest(t, dir, release, attested, "spdxjson", `{"spdxVersion":"SPDX-2.3"}`)
		if out, code := check(t, r, both, attested); code != cli.ExitOK {
			t.Fatalf("with both attestations: exit %d, want admitted:\n%s", code, out)
		}
	})
	t.Run("threshold counts distinct attestors per predicate type", func(t *testing.T) {
		pol2 := attestationPolicy(t, dir, r, 2, []string{slsaV1}, relA, ciA)
		d := r.push(t, "app", "two")
		ref := r.ref("app", d)
		r.sign(t, dir, release, ref, bundleFormat)
		r.sign(t, dir, ci, ref, bundleFormat)
		r.attest(t, dir, release, ref, "slsaprovenance1", provenance)
		r.attest(t, dir, release, ref, "slsaprovenance1", provenance) // the same attestor twice counts once
		out, code := check(t, r, pol2, ref)
		if code != cli.ExitDenied {
			t.Fatalf("one attestor: exit %d, want denied:\n%s", code, out)
		}
		wantContains(t, out, d, `is attested with predicate type "`+slsaV1+`"`, "by 1 of the 2 attestors", `verified "release"`, `not verified "ci"`)
		r.attest(t, dir, ci, ref, "slsaprovenance1", provenance)
		if out, code := check(t, r, pol2, ref); code != cli.ExitOK {
			t.Fatalf("two attestors: exit %d, want admitted:\n%s", code, out)
		}
	})
}

// TestAttestationsKeyless: attestations by a keyless attestor are checked like its signatures: the
// certificate chains to the trusted root, the log entry verifies, and the identity matches.
func TestAttestationsKeyless(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	good := newSigstore(t, dir, "good")
	exact := map[string]string{"issuer": ciIssuer, "subject": ciSubject}
	pol := attestationPolicy(t, dir, r, 1, []string{slsaV1}, keylessAttestor("ci", good, exact, ""))
	otherSubject := "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"

	image := func(tag string) (string, string) {
		d := r.push(t, "app", tag)
		ref := r.ref("app", d)
		r.signKeyless(t, good, ref, ciSubject, ciIssuer, keylessOpts{})
		return d, ref
	}
	_, attested := image("attested")
	r.signKeyless(t, good, attested, ciSubject, ciIssuer, keylessOpts{predicate: slsaV1})
	missingD, missing := image("missing")
	foreignD, foreign := image("foreign")
	r.signKeyless(t, good, foreign, otherSubject, ciIssuer, keylessOpts{predicate: slsaV1})
	otherTypeD, otherType := image("other-type")
	r.signKeyless(t, good, otherType, ciSubject, ciIssuer, keylessOpts{predicate: spdxJSON})

	t.Run("attested by the identity", func(t *testing.T) {
		if out, code := check(t, r, pol, attested); code != cli.ExitOK {
			t.Fatalf("exit %d, want admitted:\n%s", code, out)
		}
	})
	for _, tc := range []struct {
		name, ref string
		want      []string
	}{
		{"no attestation", missing, []string{missingD, `has no attestation of predicate type "` + slsaV1 + `"`, `signed by "ci"`}},
		{"attested by another identity", foreign, []string{foreignD, "not signed by a trusted key or identity",
			`attestor "ci" found a signature by issuer "` + ciIssuer + `", subject "` + otherSubject + `", expected`}},
		{"attestation of another predicate type", otherType, []string{otherTypeD, `has no attestation of predicate type "` + slsaV1 + `"`,
			`found attestations of predicate type(s) "` + spdxJSON + `" only`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := check(t, r, pol, tc.ref)
			if code != cli.ExitDenied {
				t.Fatalf("exit %d, want denied:\n%s", code, out)
			}
			wantContains(t, out, tc.want...)
		})
	}
}
