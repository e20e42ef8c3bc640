package workload

import (
	"github.com/go-json-experiment/json"
)

// Hand-written unmarshalers for the shapes and the hottest pod spec types. They read an object member
// by member and skip unknown members with ReadValue (a single scan, much cheaper than the token by
// token SkipValue json v2 uses for unknown fields). A field they have no case for is found through a
// table built from the type's json tags (fallback), so none is dropped; it, the nested types they do
// not handle, and every value of an unexpected kind are handed to json v2 (json.UnmarshalDecode with
// the decoder's own options), so those keep json v2's reading and type errors keep its messages.
//
// They read as sigs.k8s.io/json (the API server's decoder) does: names are matched case-sensitively
// after unescaping, unknown names are skipped, a repeated name decodes again into the same field (the
// last value wins; structs and maps merge; an array decodes into the elements already there), a JSON
// null leaves a string, bool, number or struct field unchanged and sets a pointer, slice or map to
// nil, and an integer has no fraction, exponent or overflow. TestDecodeMatchesAPIMachinery,
// TestDecodeRejectsWhatAPIMachineryRejects and FuzzDecodeMatchesAPIMachinery hold them to that decoder.
var fast = json.JoinUnmarshalers(
	json.UnmarshalFromFunc(unmarshalMeta),
	json.UnmarshalFromFunc(unmarshalPodTemplate),
	json.UnmarshalFromFunc(unmarshalTemplateSpec),
	json.UnmarshalFromFunc(unmarshalTemplateShape),
	json.UnmarshalFromFunc(unmarshalPodTemplateShape),
	json.UnmarshalFromFunc(unmarshalCronJobShape),
	json.UnmarshalFromFunc(unmarshalJobTemplate),
	json.UnmarshalFromFunc(unmarshalPodSpec),
	json.UnmarshalFromFunc(unmarshalContainer),
	json.UnmarshalFromFunc(unmarshalVolume),
	json.UnmarshalFromFunc(unmarshalContainerPort),
	json.UnmarshalFromFunc(unmarshalEnvVar),
	json.UnmarshalFromFunc(unmarshalVolumeMount),
	json.UnmarshalFromFunc(unmarshalProbe),
	json.UnmarshalFromFunc(unmarshalSecurityContext),
	json.UnmarshalFromFunc(unmarshalPodSecurityContext),
	json.UnmarshalFromFunc(unmarshalResources),
	json.UnmarshalFromFunc(unmarshalHTTPGet),
	json.UnmarshalFromFunc(unmarshalTCPSocket),
	json.UnmarshalFromFunc(unmarshalCapabilities),
	json.UnmarshalFromFunc(unmarshalSeccompProfile),
)
