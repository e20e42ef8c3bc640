package workload

import (
	"encoding/json"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// FuzzWorkloadDecode decodes arbitrary JSON as each kind (and as a kind that is not a workload).
// Invariants: Decode never panics; on success Object, Template and Spec are set and the paths are
// the kind's; for a kind that is not pod-bearing it returns ErrNotWorkload.
func FuzzWorkloadDecode(f *testing.F) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"a": "b"}}, Spec: spec}
	seeds := []struct {
		kind string
		obj  any
	}{
		{"Pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec}},
		{"Deployment", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DeploymentSpec{Template: tmpl}}},
		{"CronJob", batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: batchv1.CronJobSpec{
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}},
		{"PodTemplate", corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Template: tmpl}},
	}
	for _, s := range seeds {
		b, err := json.Marshal(s.obj)
		if err != nil {
			f.Fatal(err)
		}
		for i, k := range Kinds {
			if k.GVK.Kind == s.kind {
				f.Add(uint8(i), b)
			}
		}
	}
	for _, s := range []string{"", "null", "{", `{"spec":null}`, `{"spec":{"containers":"x"}}`,
		`{"metadata":{"name":1}}`, `{"spec":{"template":{"spec":{"containers":[{"name":"a","name":"b"}]}}}}`,
		`{"Spec":{}}`, `{"spec":{"jobTemplate":{"spec":{"template":[]}}}}`} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(6), []byte(s))
	}
	f.Add(uint8(len(Kinds)), []byte(`{}`))

	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		gvk := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
		var want Kind
		if i := int(kind) % (len(Kinds) + 1); i < len(Kinds) {
			want = Kinds[i]
			gvk = want.GVK
		}
		w, err := Decode(gvk, data)
		if want.GVK.Kind == "" {
			if !errors.Is(err, ErrNotWorkload) {
				t.Fatalf("Decode(%s) = %v, want ErrNotWorkload", gvk, err)
			}
			return
		}
		if errors.Is(err, ErrNotWorkload) {
			t.Fatalf("Decode(%s) returned ErrNotWorkload", gvk)
		}
		if err != nil {
			return
		}
		if w == nil || w.Spec == nil || w.Object == nil || w.Template == nil {
			t.Fatalf("Decode(%s) succeeded with a nil part: %+v", gvk, w)
		}
		if w.GVK != gvk || w.SpecPath != want.SpecPath || w.MetaPath != want.MetaPath {
			t.Fatalf("Decode(%s): gvk %s, paths %q %q; want %q %q", gvk, w.GVK, w.SpecPath, w.MetaPath, want.SpecPath, want.MetaPath)
		}
		if gvk.Kind == "Pod" && w.Template != w.Object {
			t.Fatal("a Pod's template metadata is not its own metadata")
		}
	})
}
