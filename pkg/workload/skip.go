package workload

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

// skipped lists pod spec fields that no rule reads: the decoder steps over them without building
// them. A rule that starts reading one of these must remove it here; TestSkippedFieldsAreUnread
// evaluates every rule over fixtures with and without skipping and requires the same findings.
var skipped = json.JoinUnmarshalers(
	skip[*[]corev1.EnvVar](),
	skip[*[]corev1.EnvFromSource](),
	skip[*[]corev1.VolumeMount](),
	skip[*[]corev1.VolumeDevice](),
	skip[*[]corev1.Toleration](),
	skip[**corev1.Affinity](),
	skip[*[]corev1.TopologySpreadConstraint](),
)

// skip steps over a value with ReadValue, which scans it in one pass (SkipValue reads it token by
// token, several times slower).
func skip[T any]() *json.Unmarshalers {
	return json.UnmarshalFromFunc(func(dec *jsontext.Decoder, _ T) error { return skipValue(dec) })
}
