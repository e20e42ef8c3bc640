package workload

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

// Skipped names the pod spec fields that no rule reads: the decoder steps over them without building
// them (skipped below, and the cases marked in fast_pod.go). A rule declares the skippable fields it
// reads (rules.Rule.Reads), and a test fails while any of them is still skipped here;
// TestSkippedFieldsAreUnread evaluates every rule over fixtures with and without skipping and
// requires the same findings.
var Skipped = []string{"envFrom", "env.valueFrom", "volumeDevices", "tolerations", "affinity", "topologySpreadConstraints"}

var skipped = json.JoinUnmarshalers(
	skip[*[]corev1.EnvFromSource](),
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
