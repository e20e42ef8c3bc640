package workload_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/workload"
)

// TestDecodeReadsWhichVolumeSource: of a volume source other than hostPath and image, the decoder
// reads only whether it is set, and sets it exactly when the API machinery does; hostPath and image
// are read in full.
func TestDecodeReadsWhichVolumeSource(t *testing.T) {
	for _, c := range []struct {
		name, volume string
		want         corev1.VolumeSource
	}{
		{"projected, inside skipped", `"projected":{"sources":[{"serviceAccountToken":{"path":"token","expirationSeconds":3607}}]}`,
			corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
		{"secret, inside skipped", `"secret":{"secretName":"s","defaultMode":420}`,
			corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
		{"empty object", `"emptyDir":{}`, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{"null", `"configMap":null`, corev1.VolumeSource{}},
		{"set, then null", `"nfs":{"server":"x"},"nfs":null`, corev1.VolumeSource{}},
		{"null, then set", `"nfs":null,"nfs":{"server":"x"}`, corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}}},
		{"unknown source", `"future":{"a":1}`, corev1.VolumeSource{}},
		{"hostPath in full", `"hostPath":{"path":"/etc","type":"Directory"}`,
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc", Type: new(corev1.HostPathDirectory)}}},
		{"image in full", `"image":{"reference":"registry.example.com/data:1"}`,
			corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example.com/data:1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(`{"spec":{"volumes":[{"name":"v",` + c.volume + `}]}}`)
			w, err := workload.Decode(podGVK, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, w.Spec.Volumes[0].VolumeSource); diff != "" {
				t.Errorf("volume source (-want +got):\n%s", diff)
			}
			var pod corev1.Pod
			if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &pod); err != nil {
				t.Fatal(err)
			}
			_, _, spec := decodedView(&pod.ObjectMeta, &pod.ObjectMeta, &pod.Spec)
			if diff := cmp.Diff(spec.Volumes, w.Spec.Volumes); diff != "" {
				t.Errorf("differs from the API machinery's reading (-apimachinery +Decode):\n%s", diff)
			}
		})
	}
	// A source that is not an object is an error, as it is to the API machinery.
	for _, v := range []string{`"secret":5`, `"projected":[]`, `"emptyDir":"x"`, `"csi":true`} {
		data := []byte(`{"spec":{"volumes":[{"name":"v",` + v + `}]}}`)
		var pod corev1.Pod
		if kjson.UnmarshalCaseSensitivePreserveInts(data, &pod) == nil {
			t.Fatalf("%s: the API machinery accepts it", v)
		}
		if _, err := workload.Decode(podGVK, data); err == nil {
			t.Errorf("%s: accepted, want an error", v)
		}
	}
}

// TestDecodeReadsVolumeMountNameAndReadOnly: of a volume mount, the decoder reads the name and
// readOnly (as the API machinery reads them, a repeated name included) and skips the rest.
func TestDecodeReadsVolumeMountNameAndReadOnly(t *testing.T) {
	for _, c := range []struct {
		name, mount string
		want        corev1.VolumeMount
	}{
		{"all fields", `{"name":"data","mountPath":"/data","subPath":"a","subPathExpr":"$(X)","mountPropagation":"None","recursiveReadOnly":"Disabled","readOnly":true}`,
			corev1.VolumeMount{Name: "data", ReadOnly: true}},
		{"readOnly null", `{"name":"data","readOnly":null}`, corev1.VolumeMount{Name: "data"}},
		{"repeated readOnly", `{"name":"data","readOnly":true,"readOnly":false}`, corev1.VolumeMount{Name: "data"}},
		{"unknown field", `{"name":"data","future":[1]}`, corev1.VolumeMount{Name: "data"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
				data := []byte(`{"spec":{"` + list + `":[{"name":"c","volumeMounts":[` + c.mount + `]}]}}`)
				w, err := workload.Decode(podGVK, data)
				if err != nil {
					t.Fatal(err)
				}
				var got []corev1.VolumeMount
				switch list {
				case "containers":
					got = w.Spec.Containers[0].VolumeMounts
				case "initContainers":
					got = w.Spec.InitContainers[0].VolumeMounts
				default:
					got = w.Spec.EphemeralContainers[0].VolumeMounts
				}
				if diff := cmp.Diff([]corev1.VolumeMount{c.want}, got); diff != "" {
					t.Errorf("%s: volume mounts (-want +got):\n%s", list, diff)
				}
			}
		})
	}
	// The name and readOnly keep their type errors.
	for _, m := range []string{`{"name":5}`, `{"name":"a","readOnly":"true"}`, `"data"`} {
		data := []byte(`{"spec":{"containers":[{"name":"c","volumeMounts":[` + m + `]}]}}`)
		var pod corev1.Pod
		if kjson.UnmarshalCaseSensitivePreserveInts(data, &pod) == nil {
			t.Fatalf("%s: the API machinery accepts it", m)
		}
		if _, err := workload.Decode(podGVK, data); err == nil {
			t.Errorf("%s: accepted, want an error", m)
		}
	}
}
