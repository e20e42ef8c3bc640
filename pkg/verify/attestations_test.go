package verify

import (
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
)

func dsseBundle(payload string) *sgbundle.Bundle {
	return &sgbundle.Bundle{Bundle: &protobundle.Bundle{Content: &protobundle.Bundle_DsseEnvelope{
		DsseEnvelope: &protodsse.Envelope{PayloadType: "application/vnd.in-toto+json", Payload: []byte(payload)}}}}
}

// TestBundleIs: a bundle is a signature or an attestation of exactly one predicate type, by its
// in-toto statement.
func TestBundleIs(t *testing.T) {
	const slsa = "https://slsa.dev/provenance/v1"
	message := &sgbundle.Bundle{Bundle: &protobundle.Bundle{Content: &protobundle.Bundle_MessageSignature{
		MessageSignature: &protocommon.MessageSignature{}}}}
	cases := []struct {
		name      string
		b         *sgbundle.Bundle
		predicate string
		want      bool
	}{
		{"message signature is a signature", message, "", true},
		{"message signature is no attestation", message, slsa, false},
		{"cosign signature statement", dsseBundle(`{"predicateType":"https://sigstore.dev/cosign/sign/v1"}`), "", true},
		{"cosign signature statement is no attestation", dsseBundle(`{"predicateType":"https://sigstore.dev/cosign/sign/v1"}`), slsa, false},
		{"provenance is no signature", dsseBundle(`{"predicateType":"` + slsa + `"}`), "", false},
		{"provenance", dsseBundle(`{"predicateType":"` + slsa + `"}`), slsa, true},
		{"another predicate", dsseBundle(`{"predicateType":"https://spdx.dev/Document"}`), slsa, false},
		{"unreadable statement", dsseBundle(`not json`), slsa, false},
		{"unreadable statement is no signature", dsseBundle(`not json`), "", false},
	}
	for _, tc := range cases {
		if got := bundleIs(tc.b, tc.predicate); got != tc.want {
			t.Errorf("%s: bundleIs(%q) = %v, want %v", tc.name, tc.predicate, got, tc.want)
		}
	}
}
