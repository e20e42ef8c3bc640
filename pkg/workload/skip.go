package workload

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

// Skipped names the pod spec fields that no rule reads: the decoder steps over them without building
// them (skipped below, and the cases marked in fast_pod.go). A rule declares the skippable fields it
// reads (rules.Rule.Reads), and a test fails while any of them is still skipped here;
// TestSkippedFieldsAreUnread evaluates every rule over fixtures with and without skipping and
// requires the same findings. "volumes.<source>" is the inside of a volume source: which source a
// volume has is always read (sourcePresence), its fields only for hostPath and image.
var Skipped = append([]string{"envFrom", "env.valueFrom", "volumeDevices", "tolerations", "affinity",
	"topologySpreadConstraints", "volumeMounts.mountPath", "volumeMounts.subPath", "volumeMounts.subPathExpr",
	"volumeMounts.mountPropagation", "volumeMounts.recursiveReadOnly"}, skippedSources()...)

// skippedSources names the volume sources whose inside the decoder skips: all but hostPath and image.
func skippedSources() []string {
	var out []string
	t := reflect.TypeFor[corev1.VolumeSource]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("workload: VolumeSource.%s is not a pointer to a struct; sourcePresence cannot read it", f.Name))
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "hostPath" && name != "image" {
			out = append(out, "volumes."+name)
		}
	}
	return out
}

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
