package audit_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/workload"
)

// richTemplate has something in every part of a pod spec the decoder reads, and fields it skips.
func richTemplate(kind string) corev1.PodTemplateSpec {
	s := corev1.PodSpec{
		HostNetwork:     true,
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		InitContainers:  []corev1.Container{{Name: "init", Image: "registry.example.com/init:1"}},
		Containers: []corev1.Container{{
			Name: "app", Image: latestImage,
			Env: []corev1.EnvVar{{Name: "SKIPPED", Value: "not kept"}},
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 80}},
		}},
		Volumes: []corev1.Volume{
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}},
			{Name: "model", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: evilImage}}},
		},
	}
	if kind == "Pod" {
		s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox"}}}
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "web"},
		Annotations: map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}, Spec: s}
}

// typedOf builds a typed object of a pod-bearing kind, with status and managedFields as the API
// server returns them.
func typedOf(t *testing.T, k workload.Kind, m metav1.ObjectMeta) runtime.Object {
	t.Helper()
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: k.GVK.GroupVersion().String(), FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}
	m.Annotations = map[string]string{"object": "annotation"}
	tm := metav1.TypeMeta{APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind}
	tmpl := richTemplate(k.GVK.Kind)
	switch k.GVK.Kind {
	case "Pod":
		m.Labels, m.Annotations = tmpl.Labels, tmpl.Annotations
		return &corev1.Pod{TypeMeta: tm, ObjectMeta: m, Spec: tmpl.Spec, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	case "Deployment":
		return &appsv1.Deployment{TypeMeta: tm, ObjectMeta: m, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: tmpl},
			Status: appsv1.DeploymentStatus{Replicas: 3}}
	case "ReplicaSet":
		return &appsv1.ReplicaSet{TypeMeta: tm, ObjectMeta: m, Spec: appsv1.ReplicaSetSpec{Template: tmpl}}
	case "StatefulSet":
		return &appsv1.StatefulSet{TypeMeta: tm, ObjectMeta: m, Spec: appsv1.StatefulSetSpec{Template: tmpl}}
	case "DaemonSet":
		return &appsv1.DaemonSet{TypeMeta: tm, ObjectMeta: m, Spec: appsv1.DaemonSetSpec{Template: tmpl}}
	case "Job":
		return &batchv1.Job{TypeMeta: tm, ObjectMeta: m, Spec: batchv1.JobSpec{Template: tmpl}}
	case "CronJob":
		return &batchv1.CronJob{TypeMeta: tm, ObjectMeta: m, Spec: batchv1.CronJobSpec{Schedule: "@daily",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	case "ReplicationController":
		return &corev1.ReplicationController{TypeMeta: tm, ObjectMeta: m, Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}
	case "PodTemplate":
		return &corev1.PodTemplate{TypeMeta: tm, ObjectMeta: m, Template: tmpl}
	}
	t.Fatalf("no fixture for kind %s", k.GVK.Kind)
	return nil
}

func TestFromJSONAndFromTypedAgree(t *testing.T) {
	notController := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "cfg", UID: "uid-cm", Controller: ptr.To(false)}
	unset := metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Thing", Name: "thing", UID: "uid-thing"}
	ctrl := controller("apps/v1", "ReplicaSet", "web-abc")
	for _, k := range workload.Kinds {
		for _, tc := range []struct {
			name   string
			owners []metav1.OwnerReference
			want   *audit.Ref
		}{
			{"controller after others", []metav1.OwnerReference{notController, unset, ctrl},
				&audit.Ref{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: uid("ReplicaSet", "web-abc")}},
			{"no controller", []metav1.OwnerReference{notController, unset}, nil},
			{"no owners", nil, nil},
		} {
			t.Run(k.GVK.Kind+"/"+tc.name, func(t *testing.T) {
				typed := typedOf(t, k, metav1.ObjectMeta{Namespace: "prod", Name: "web", UID: "uid-web",
					ResourceVersion: "1234", Generation: 7, OwnerReferences: tc.owners})
				raw, err := json.Marshal(typed)
				if err != nil {
					t.Fatal(err)
				}
				fromJSON, err := audit.FromJSON(k.GVK, raw)
				if err != nil {
					t.Fatalf("FromJSON: %v", err)
				}
				// An informer's object is decoded from the wire by the client-go scheme, not built in Go.
				decoded, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
				if err != nil {
					t.Fatalf("decoding with the client-go scheme: %v", err)
				}
				decoded.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // as informers deliver it
				fromTyped, err := audit.FromTyped(decoded)
				if err != nil {
					t.Fatalf("FromTyped: %v", err)
				}

				want := metav1.ObjectMeta{Namespace: "prod", Name: "web", UID: "uid-web", ResourceVersion: "1234"}
				for _, o := range []*audit.Object{fromJSON, fromTyped} {
					if diff := cmp.Diff(want, o.ObjectMeta); diff != "" {
						t.Errorf("ObjectMeta (-want +got):\n%s", diff)
					}
					if o.GroupVersionKind() != k.GVK {
						t.Errorf("GVK = %v, want %v", o.GroupVersionKind(), k.GVK)
					}
					if diff := cmp.Diff(tc.want, o.Owner); diff != "" {
						t.Errorf("Owner (-want +got):\n%s", diff)
					}
					if o.IsPod() != (k.GVK.Kind == "Pod") {
						t.Errorf("IsPod() = %v", o.IsPod())
					}
				}
				if diff := cmp.Diff(fromJSON.Workload, fromTyped.Workload); diff != "" {
					t.Errorf("workloads differ (-FromJSON +FromTyped):\n%s", diff)
				}
				w := fromJSON.Workload
				if w.SpecPath != k.SpecPath || w.MetaPath != k.MetaPath || w.GVK != k.GVK {
					t.Errorf("workload paths = %s, %s, %v; want %s, %s, %v", w.SpecPath, w.MetaPath, w.GVK, k.SpecPath, k.MetaPath, k.GVK)
				}
				if len(w.Spec.Containers) != 1 || w.Spec.Containers[0].Image != latestImage || len(w.Spec.Volumes) != 2 ||
					!w.Spec.HostNetwork || w.Template.Labels["tier"] != "web" {
					t.Errorf("workload does not hold the pod spec: %+v", w.Spec)
				}
			})
		}
	}
}

func TestFromJSONAndFromTypedRejectOtherKinds(t *testing.T) {
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	if _, err := audit.FromJSON(gvk, []byte(`{"metadata":{"name":"cfg"}}`)); !errors.Is(err, workload.ErrNotWorkload) {
		t.Errorf("FromJSON(ConfigMap) error = %v, want ErrNotWorkload", err)
	}
	if o, err := audit.FromTyped(&corev1.ConfigMap{}); err == nil {
		t.Errorf("FromTyped(ConfigMap) = %v, want an error", o)
	}
	if _, err := audit.FromJSON(workload.Kinds[0].GVK, []byte(`{"metadata":{"name":1}}`)); err == nil {
		t.Error("FromJSON of a pod with a numeric name: want an error")
	}
}

func TestTransform(t *testing.T) {
	pod := typedPod("prod", "web-1", spec(goodImage, false), controller("apps/v1", "ReplicaSet", "web-abc"))
	got, err := audit.Transform(pod)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := got.(*audit.Object)
	if !ok {
		t.Fatalf("Transform(pod) = %T, want *audit.Object", got)
	}
	if o.Name != "web-1" || o.Owner == nil || o.Owner.Name != "web-abc" {
		t.Errorf("Transform(pod) = %+v", o)
	}

	// Informers may hand the transform what it already transformed; it must be idempotent.
	again, err := audit.Transform(o)
	if err != nil || again != any(o) {
		t.Errorf("Transform(Object) = %v, %v; want the same Object", again, err)
	}

	tombstone := cache.DeletedFinalStateUnknown{Key: "prod/web-1", Obj: o}
	if got, err := audit.Transform(tombstone); err != nil || got != any(tombstone) {
		t.Errorf("Transform(tombstone) = %#v, %v; want it unchanged", got, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "prod"}}
	if got, err := audit.Transform(cm); err != nil || got != any(cm) {
		t.Errorf("Transform(ConfigMap) = %#v, %v; want it unchanged", got, err)
	}
	if got, err := audit.Transform("not an object"); err != nil || got != "not an object" {
		t.Errorf("Transform(string) = %#v, %v; want it unchanged", got, err)
	}
}

func TestObjectInIndexer(t *testing.T) {
	o := object(t, typedPod("prod", "web-1", spec(goodImage, false)))
	key, err := cache.MetaNamespaceKeyFunc(o)
	if err != nil || key != "prod/web-1" {
		t.Errorf("MetaNamespaceKeyFunc = %q, %v; want prod/web-1", key, err)
	}
	idx, err := cache.MetaNamespaceIndexFunc(o)
	if err != nil || len(idx) != 1 || idx[0] != "prod" {
		t.Errorf("MetaNamespaceIndexFunc = %v, %v; want [prod]", idx, err)
	}

	// The key function of every informer's store, which also keys deletion tombstones.
	store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := store.Add(o); err != nil {
		t.Fatal(err)
	}
	byNS, err := store.ByIndex(cache.NamespaceIndex, "prod")
	if err != nil || len(byNS) != 1 || byNS[0] != any(o) {
		t.Errorf("ByIndex(namespace, prod) = %v, %v", byNS, err)
	}
	if err := store.Delete(cache.DeletedFinalStateUnknown{Key: key, Obj: o}); err != nil {
		t.Fatal(err)
	}
	if len(store.List()) != 0 {
		t.Errorf("store still holds %v after deleting the tombstone", store.List())
	}

	var ro runtime.Object = o
	c, ok := ro.DeepCopyObject().(*audit.Object)
	if !ok || c == o {
		t.Fatalf("DeepCopyObject = %T %p, want a new *audit.Object", c, c)
	}
	if c.GroupVersionKind() != o.GroupVersionKind() || c.Name != o.Name || c.UID != o.UID {
		t.Errorf("copy = %+v, want the same identity as %+v", c.ObjectMeta, o.ObjectMeta)
	}
	c.Name = "changed"
	c.SetLabels(map[string]string{"x": "y"})
	if o.Name != "web-1" || o.Labels != nil {
		t.Errorf("changing the copy changed the original: %+v", o.ObjectMeta)
	}
}
