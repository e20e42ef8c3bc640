//go:build signatures

package signatures

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
)

// sigstore is a virtual Sigstore (certificate authority, transparency log and timestamp authority
// in process, sigstore-go's own test double) with its trusted_root.json written to a file.
type sigstore struct {
	vs       *ca.VirtualSigstore
	rootFile string
}

func newSigstore(t *testing.T, dir, name string) *sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), rawLogIDs(t, vs.CTLogs()),
		vs.TimestampingAuthorities(), rawLogIDs(t, vs.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+"-trusted_root.json")
	writeFile(t, f, b)
	return &sigstore{vs: vs, rootFile: f}
}

// rawLogIDs gives the logs the IDs a trusted_root.json carries: the virtual Sigstore keeps the hex
// string of the key's digest, which serializes as the string's bytes, not the digest's.
func rawLogIDs(t *testing.T, logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	t.Helper()
	for _, l := range logs {
		id, err := hex.DecodeString(string(l.ID))
		if err != nil {
			t.Fatal(err)
		}
		l.ID = id
	}
	return logs
}

// keylessOpts shape the bundle signKeyless attaches.
type keylessOpts struct {
	noTlog      bool // leave the transparency-log entry out of the bundle
	timestamp   bool // add the timestamp authority's RFC 3161 timestamp
	predicate   string
	otherDigest string // sign this digest instead of the image's
}

// signKeyless signs ref (host/repo@digest) as `cosign sign` does in keyless mode, with a
// short-lived certificate for identity and issuer from the virtual Sigstore: a DSSE envelope of an
// in-toto statement with cosign's signature predicate whose subject is the digest, in a Sigstore
// bundle v0.3 with the transparency-log entry (inclusion proof and promise), attached to the digest
// as an OCI referrer by cosign's own function.
func (r *testRegistry) signKeyless(t *testing.T, s *sigstore, ref, identity, issuer string, o keylessOpts) {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	subject := d.DigestStr()
	if o.otherDigest != "" {
		subject = o.otherDigest
	}
	alg, hexDigest, _ := strings.Cut(subject, ":")
	predicate := ctypes.CosignSignPredicateType
	if o.predicate != "" {
		predicate = o.predicate
	}
	statement, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": d.Context().Name(), "digest": map[string]string{alg: hexDigest}}},
		"predicateType": predicate,
		"predicate":     map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ent, err := s.vs.AttestAtTime(identity, issuer, statement, time.Now().Add(time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}

	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	env := sc.(*sgbundle.Envelope).RawEnvelope()
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []*protodsse.Signature
	for _, sg := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, &protodsse.Signature{Sig: raw, Keyid: sg.KeyID})
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
	}
	if !o.noTlog {
		entries, _ := ent.TlogEntries()
		for _, e := range entries {
			tle := e.TransparencyLogEntry()
			tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
			// The promise (signed entry timestamp) makes the integrated time trustworthy.
			set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
				Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), IntegratedTime: tle.IntegratedTime,
				LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId),
			})
			if err != nil {
				t.Fatal(err)
			}
			tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
			vm.TlogEntries = append(vm.TlogEntries, tle)
		}
	}
	if o.timestamp {
		tss, _ := ent.Timestamps()
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		for _, ts := range tss {
			vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps,
				&protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
		}
	}
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: sigs,
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
	err = ociremote.WriteAttestationNewBundleFormat(d, b, predicate,
		ociremote.WithRemoteOptions(remote.WithTransport(r.srv.Client().Transport)))
	if err != nil {
		t.Fatal(err)
	}
}

// keylessAttestor is a keyless attestor of a test policy, trusting the virtual Sigstore's root.
func keylessAttestor(name string, s *sigstore, identity map[string]string, tlog string) map[string]any {
	k := map[string]any{}
	for f, v := range identity {
		k[f] = v
	}
	a := map[string]any{"name": name, "keyless": k, "trustedRootRef": map[string]any{"file": s.rootFile}}
	if tlog != "" {
		a["transparencyLog"] = tlog
	}
	return a
}
