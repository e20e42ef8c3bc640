//go:build signatures

package signatures

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/sealgate/sealgate/pkg/cli"
)

// goKey is an ECDSA P-256 signing key held in process, as `cosign generate-key-pair` makes.
type goKey struct {
	priv *ecdsa.PrivateKey
	pub  string // PEM
}

func newGoKey(t *testing.T) goKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return goKey{priv: priv, pub: string(pub)}
}

// signKeyBundle signs ref (host/repo@digest) with k as `cosign sign --key` does in the bundle
// format: a DSSE envelope of an in-toto statement with cosign's signature predicate, in a Sigstore
// bundle v0.3 whose verification material is the key. With log set, the bundle carries a Rekor v1
// dsse entry of that signature logged in log's virtual transparency log (inclusion proof and
// promise), as `cosign sign --key` uploading to Rekor gives.
func (r *testRegistry) signKeyBundle(t *testing.T, k goKey, ref string, log *sigstore) {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	alg, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	payload, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": d.Context().Name(), "digest": map[string]string{alg: hexDigest}}},
		"predicateType": ctypes.CosignSignPredicateType,
		"predicate":     map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
	h := sha256.Sum256([]byte(pae))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "release"}},
	}
	if log != nil {
		vm.TlogEntries = append(vm.TlogEntries, logDSSE(t, log, k, payloadType, payload, sig))
	}
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	b, err := (&sgbundle.Bundle{Bundle: pb}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var check sgbundle.Bundle
	if err := check.UnmarshalJSON(b); err != nil {
		t.Fatalf("the test bundle is not valid: %v", err)
	}
	err = ociremote.WriteAttestationNewBundleFormat(d, b, ctypes.CosignSignPredicateType,
		ociremote.WithRemoteOptions(remote.WithTransport(r.srv.Client().Transport)))
	if err != nil {
		t.Fatal(err)
	}
}

// logDSSE enters a DSSE signature by k into the virtual Sigstore's transparency log: a Rekor dsse
// v0.0.1 entry naming the key as verifier, with the log's signed entry timestamp and an inclusion
// proof.
func logDSSE(t *testing.T, s *sigstore, k goKey, payloadType string, payload, sig []byte) *protorekor.TransparencyLogEntry {
	t.Helper()
	env, err := json.Marshal(map[string]any{"payloadType": payloadType, "payload": base64.StdEncoding.EncodeToString(payload),
		"signatures": []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(sig)}}})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "dsse",
		"spec": map[string]any{
			"envelopeHash": map[string]string{"algorithm": "sha256", "value": sum(env)},
			"payloadHash":  map[string]string{"algorithm": "sha256", "value": sum(payload)},
			"signatures": []any{map[string]string{
				"signature": base64.StdEncoding.EncodeToString(sig),
				"verifier":  base64.StdEncoding.EncodeToString([]byte(k.pub)),
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	logID, err := s.vs.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rawID, err := hex.DecodeString(logID)
	if err != nil {
		t.Fatal(err)
	}
	integrated, index := time.Now().Unix(), int64(0)
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body),
		IntegratedTime: integrated, LogIndex: index, LogID: logID})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := s.vs.GetInclusionProof(body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tlog.NewEntry(body, integrated, index, rawID, set, proof) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	tle := e.TransparencyLogEntry()
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	return tle
}

// TestCheckKeyTransparencyLog: a key attestor with transparencyLog Require admits a signature only
// when its bundle carries a transparency-log entry that verifies, offline, with a log key of the
// attestor's trusted root.
func TestCheckKeyTransparencyLog(t *testing.T) {
	r := newRegistry(t)
	dir := t.TempDir()
	good := newSigstore(t, dir, "good")
	rogue := newSigstore(t, dir, "rogue")
	k := newGoKey(t)

	logged := r.push(t, "app", "logged")
	r.signKeyBundle(t, k, r.ref("app", logged), good)
	unlogged := r.push(t, "app", "unlogged")
	r.signKeyBundle(t, k, r.ref("app", unlogged), nil)
	rogueLogged := r.push(t, "app", "rogue-logged")
	r.signKeyBundle(t, k, r.ref("app", rogueLogged), rogue)
	other := newGoKey(t)
	otherLogged := r.push(t, "app", "other-key")
	r.signKeyBundle(t, other, r.ref("app", otherLogged), good)

	attestor := func(tlog string, s *sigstore) map[string]any {
		a := map[string]any{"name": "release", "publicKey": k.pub, "transparencyLog": tlog}
		if s != nil {
			a["trustedRootRef"] = map[string]any{"file": s.rootFile}
		}
		return a
	}
	require := writePolicyWith(t, dir, r, "Enforce", 1, attestor("Require", good))
	ignore := writePolicyWith(t, dir, r, "Enforce", 1, attestor("Ignore", nil))

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

	t.Run("Require with a log entry of the trusted log", func(t *testing.T) { admitted(t, require, r.ref("app", logged)) })
	t.Run("Ignore with a log entry", func(t *testing.T) { admitted(t, ignore, r.ref("app", logged)) })
	t.Run("Require without a log entry", func(t *testing.T) {
		denied(t, require, r.ref("app", unlogged), unlogged, `attestor "release" found a signature by the key with no transparency-log entry`,
			"transparencyLog: Require")
	})
	t.Run("Ignore without a log entry", func(t *testing.T) { admitted(t, ignore, r.ref("app", unlogged)) })
	t.Run("Require with a log entry of a log not in the trusted root", func(t *testing.T) {
		denied(t, require, r.ref("app", rogueLogged), rogueLogged, "fails the transparency-log check",
			"does not verify with a log key of the trusted root")
	})
	t.Run("Require with a trusted root of another log", func(t *testing.T) {
		pol := writePolicyWith(t, dir, r, "Enforce", 1, attestor("Require", rogue))
		denied(t, pol, r.ref("app", logged), "fails the transparency-log check")
		admitted(t, pol, r.ref("app", rogueLogged))
	})
	t.Run("Require with a logged signature by another key", func(t *testing.T) {
		denied(t, require, r.ref("app", otherLogged), "not by a trusted key or identity")
	})
	t.Run("the trusted root's certificate authorities do not stand in for the key", func(t *testing.T) {
		keylessSigned := r.push(t, "app", "keyless")
		r.signKeyless(t, good, r.ref("app", keylessSigned), ciSubject, ciIssuer, keylessOpts{})
		denied(t, require, r.ref("app", keylessSigned), "not by a trusted key or identity")
	})
	t.Run("Require without a trusted root is an invalid policy", func(t *testing.T) {
		pol := writePolicyWith(t, dir, r, "Enforce", 1, attestor("Require", nil))
		f := filepath.Join(t.TempDir(), "pod.yaml")
		writeFile(t, f, podJSON(r.ref("app", logged)))
		var out bytes.Buffer
		code := cli.Execute(t.Context(), []string{"check", "--policy", pol, "-f", f, "--registry-ca-file", r.caFile,
			"--registry-docker-config=false"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &out})
		if code != cli.ExitUsage {
			t.Fatalf("exit %d, want a policy error:\n%s", code, out.String())
		}
		wantContains(t, out.String(), "spec.signatures[0].attestors[0].trustedRootRef: Required value")
	})
	t.Run("cosign CLI signatures without a log entry", func(t *testing.T) {
		ck := r.newKey(t, dir, "cli")
		bundled, classic := r.push(t, "app", "cli-bundle"), r.push(t, "app", "cli-classic")
		r.sign(t, dir, ck, r.ref("app", bundled), bundleFormat)
		r.sign(t, dir, ck, r.ref("app", classic), classicFormat)
		cliAttestor := func(tlog string) map[string]any {
			return map[string]any{"name": "cli", "publicKey": ck.pub, "transparencyLog": tlog,
				"trustedRootRef": map[string]any{"file": good.rootFile}}
		}
		req := writePolicyWith(t, dir, r, "Enforce", 1, cliAttestor("Require"))
		ign := writePolicyWith(t, dir, r, "Enforce", 1, cliAttestor("Ignore"))
		denied(t, req, r.ref("app", bundled), "no transparency-log entry")
		denied(t, req, r.ref("app", classic), "legacy .sig signature by the key with no Rekor bundle")
		admitted(t, ign, r.ref("app", bundled))
		admitted(t, ign, r.ref("app", classic))
	})
}
