package workload_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/workload"
)

// quantityCmp compares quantities by value: a decoded Quantity caches its string form.
var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// fixturePodSpec has every list the rules read: init containers, containers and an image volume.
func fixturePodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		InitContainers: []corev1.Container{{
			Name:    "migrate",
			Image:   "registry.example.com/acme/migrate:2.1",
			Command: []string{"/migrate", "--up"},
		}},
		Containers: []corev1.Container{
			{
				Name:  "app",
				Image: "registry.example.com/acme/app@sha256:" + strings.Repeat("ab", 32),
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")},
				}},
				SecurityContext: &corev1.SecurityContext{
					Privileged:               ptr.To(false),
					AllowPrivilegeEscalation: ptr.To(false),
					RunAsNonRoot:             ptr.To(true),
					RunAsUser:                ptr.To[int64](10001),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "models", MountPath: "/models"}},
			},
			{
				Name:  "sidecar",
				Image: "ghcr.io/acme/proxy:1.4",
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(15021)},
				}},
			},
		},
		Volumes: []corev1.Volume{
			{Name: "models", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{
				Reference: "registry.example.com/acme/models:v3", PullPolicy: corev1.PullIfNotPresent}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		HostNetwork:     false,
		Tolerations:     []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web", Effect: corev1.TaintEffectNoSchedule}},
	}
}

// The object and its pod template carry different labels and annotations, so a test can tell which
// one a field came from.
func fixtureObjectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: "web", Namespace: "prod", UID: "4f1c1f2e-0000-4000-8000-000000000001", ResourceVersion: "4711",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "App", Name: "web",
			UID: "4f1c1f2e-0000-4000-8000-000000000002", Controller: ptr.To(true)}},
		Labels:            map[string]string{"app": "web", "owner": "object"},
		Annotations:       map[string]string{"deployment.kubernetes.io/revision": "3"},
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
}

func fixtureTemplateMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Labels:      map[string]string{"app": "web", "owner": "template"},
		Annotations: map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"},
	}
}

func fixtureTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: fixtureTemplateMeta(), Spec: fixturePodSpec()}
}

// typedKind builds an empty typed object of a kind and finds its pod spec and metadata, so that the
// tests can compare the decoder with the API machinery's own decoding into the real type.
type typedKind struct {
	new func() any
	// parts returns the object's metadata, the pod template's metadata and the pod spec.
	parts func(obj any) (object, template *metav1.ObjectMeta, spec *corev1.PodSpec)
	// fixture is a full object of the kind.
	fixture func() any
}

func tm(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

var typedKinds = map[string]typedKind{
	"Pod": {
		new: func() any { return &corev1.Pod{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			p := o.(*corev1.Pod)
			return &p.ObjectMeta, &p.ObjectMeta, &p.Spec
		},
		fixture: func() any {
			return &corev1.Pod{TypeMeta: tm("v1", "Pod"), ObjectMeta: fixtureObjectMeta(), Spec: fixturePodSpec(),
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7"}}
		},
	},
	"Deployment": {
		new: func() any { return &appsv1.Deployment{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*appsv1.Deployment)
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			return &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: fixtureObjectMeta(),
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: fixtureTemplate()},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 3}}
		},
	},
	"ReplicaSet": {
		new: func() any { return &appsv1.ReplicaSet{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*appsv1.ReplicaSet)
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			return &appsv1.ReplicaSet{TypeMeta: tm("apps/v1", "ReplicaSet"), ObjectMeta: fixtureObjectMeta(),
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: fixtureTemplate()}}
		},
	},
	"StatefulSet": {
		new: func() any { return &appsv1.StatefulSet{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*appsv1.StatefulSet)
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			return &appsv1.StatefulSet{TypeMeta: tm("apps/v1", "StatefulSet"), ObjectMeta: fixtureObjectMeta(),
				Spec: appsv1.StatefulSetSpec{ServiceName: "web",
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: fixtureTemplate(),
					VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
						Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}}}}
		},
	},
	"DaemonSet": {
		new: func() any { return &appsv1.DaemonSet{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*appsv1.DaemonSet)
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			return &appsv1.DaemonSet{TypeMeta: tm("apps/v1", "DaemonSet"), ObjectMeta: fixtureObjectMeta(),
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Template: fixtureTemplate()}}
		},
	},
	"Job": {
		new: func() any { return &batchv1.Job{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*batchv1.Job)
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			return &batchv1.Job{TypeMeta: tm("batch/v1", "Job"), ObjectMeta: fixtureObjectMeta(),
				Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](4), Template: fixtureTemplate()}}
		},
	},
	"CronJob": {
		new: func() any { return &batchv1.CronJob{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*batchv1.CronJob)
			t := &d.Spec.JobTemplate.Spec.Template
			return &d.ObjectMeta, &t.ObjectMeta, &t.Spec
		},
		fixture: func() any {
			return &batchv1.CronJob{TypeMeta: tm("batch/v1", "CronJob"), ObjectMeta: fixtureObjectMeta(),
				Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{
					// The job template's own metadata is neither the object's nor the pod's.
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "jobTemplate"}},
					Spec:       batchv1.JobSpec{Template: fixtureTemplate()}}}}
		},
	},
	"ReplicationController": {
		new: func() any { return &corev1.ReplicationController{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*corev1.ReplicationController)
			if d.Spec.Template == nil {
				d.Spec.Template = &corev1.PodTemplateSpec{}
			}
			return &d.ObjectMeta, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec
		},
		fixture: func() any {
			t := fixtureTemplate()
			return &corev1.ReplicationController{TypeMeta: tm("v1", "ReplicationController"), ObjectMeta: fixtureObjectMeta(),
				Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1), Selector: map[string]string{"app": "web"}, Template: &t}}
		},
	},
	"PodTemplate": {
		new: func() any { return &corev1.PodTemplate{} },
		parts: func(o any) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
			d := o.(*corev1.PodTemplate)
			return &d.ObjectMeta, &d.Template.ObjectMeta, &d.Template.Spec
		},
		fixture: func() any {
			return &corev1.PodTemplate{TypeMeta: tm("v1", "PodTemplate"), ObjectMeta: fixtureObjectMeta(), Template: fixtureTemplate()}
		},
	},
}

func TestDecodeEveryKind(t *testing.T) {
	wantPaths := map[string][2]string{
		"Pod":                   {"spec", "metadata"},
		"Deployment":            {"spec.template.spec", "spec.template.metadata"},
		"ReplicaSet":            {"spec.template.spec", "spec.template.metadata"},
		"StatefulSet":           {"spec.template.spec", "spec.template.metadata"},
		"DaemonSet":             {"spec.template.spec", "spec.template.metadata"},
		"Job":                   {"spec.template.spec", "spec.template.metadata"},
		"CronJob":               {"spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata"},
		"ReplicationController": {"spec.template.spec", "spec.template.metadata"},
		"PodTemplate":           {"template.spec", "template.metadata"},
	}
	if len(workload.Kinds) != len(wantPaths) {
		t.Errorf("workload.Kinds has %d kinds, the test knows %d: add the new kind to this test", len(workload.Kinds), len(wantPaths))
	}
	for _, k := range workload.Kinds {
		t.Run(k.GVK.Kind, func(t *testing.T) {
			tk, ok := typedKinds[k.GVK.Kind]
			if !ok {
				t.Fatalf("no typed fixture for %s", k.GVK)
			}
			obj := tk.fixture()
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			w, err := workload.Decode(k.GVK, data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			wantObj, wantTmpl, wantSpec := decodedView(tk.parts(obj))
			if w.GVK != k.GVK {
				t.Errorf("GVK = %v, want %v", w.GVK, k.GVK)
			}
			if diff := cmp.Diff(wantSpec, w.Spec, quantityCmp); diff != "" {
				t.Errorf("Spec (-typed +decoded):\n%s", diff)
			}
			if diff := cmp.Diff(wantTmpl, w.Template); diff != "" {
				t.Errorf("Template (-typed +decoded):\n%s", diff)
			}
			if diff := cmp.Diff(wantObj, w.Object); diff != "" {
				t.Errorf("Object (-typed +decoded):\n%s", diff)
			}
			if k.GVK.Kind == "Pod" && w.Template != w.Object {
				t.Errorf("a Pod's Template must be its Object metadata")
			}
			// DecodeListed reads the same, plus the object's identity, and the template's too.
			listed, err := workload.DecodeListed(k.GVK, data)
			if err != nil {
				t.Fatalf("DecodeListed: %v", err)
			}
			withIdentity := func(lean, full *metav1.ObjectMeta) *metav1.ObjectMeta {
				m := *lean
				m.UID, m.ResourceVersion, m.OwnerReferences = full.UID, full.ResourceVersion, full.OwnerReferences
				return &m
			}
			fullObj, fullTmpl, _ := tk.parts(obj)
			if diff := cmp.Diff(withIdentity(wantObj, fullObj), listed.Object); diff != "" {
				t.Errorf("DecodeListed Object (-typed +decoded):\n%s", diff)
			}
			if diff := cmp.Diff(withIdentity(wantTmpl, fullTmpl), listed.Template); diff != "" {
				t.Errorf("DecodeListed Template (-typed +decoded):\n%s", diff)
			}
			if diff := cmp.Diff(wantSpec, listed.Spec, quantityCmp); diff != "" {
				t.Errorf("DecodeListed Spec (-typed +decoded):\n%s", diff)
			}
			if k.GVK.Kind != "Pod" && w.Object.Labels["owner"] != "object" {
				t.Errorf("Object labels = %v, want the object's own labels", w.Object.Labels)
			}
			if got := [2]string{w.SpecPath, w.MetaPath}; got != wantPaths[k.GVK.Kind] {
				t.Errorf("SpecPath, MetaPath = %q, want %q", got, wantPaths[k.GVK.Kind])
			}
			if got := [2]string{k.SpecPath, k.MetaPath}; got != wantPaths[k.GVK.Kind] {
				t.Errorf("Kinds entry paths = %q, want %q", got, wantPaths[k.GVK.Kind])
			}
			if got, ok := workload.Lookup(k.GVK); !ok || got != k {
				t.Errorf("Lookup(%v) = %v, %v", k.GVK, got, ok)
			}
		})
	}
}

func TestDecodeNotWorkload(t *testing.T) {
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "apps", Version: "v1beta1", Kind: "Deployment"},
		{Group: "extensions", Version: "v1beta1", Kind: "Deployment"},
		{Group: "batch", Version: "v1beta1", Kind: "CronJob"},
		{Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ConfigMap"},
		{Version: "v1", Kind: "pod"},
		{Group: "apps", Version: "v1", Kind: "deployment"},
		{Version: "v2", Kind: "Pod"},
		{Kind: "Pod"},
		{},
	} {
		w, err := workload.Decode(gvk, []byte(`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"x"}]}}`))
		if !errors.Is(err, workload.ErrNotWorkload) || w != nil {
			t.Errorf("Decode(%v) = %v, %v; want ErrNotWorkload", gvk, w, err)
		}
		if _, ok := workload.Lookup(gvk); ok {
			t.Errorf("Lookup(%v) found a kind", gvk)
		}
	}
}

var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// The API server matches field names case-sensitively and drops unknown fields; a field in the
// wrong case must not be seen, or a policy would judge something that never reaches the kubelet.
func TestDecodeCaseSensitive(t *testing.T) {
	data := `{"metadata":{"name":"p","Labels":{"a":"b"}},"Spec":{"containers":[]},"spec":{"containers":[{
		"name":"app","image":"good.example.com/app:1","Image":"evil.example.com/app:1",
		"securityContext":{"Privileged":true,"RunAsUser":0,"capabilities":{"Add":["SYS_ADMIN"]}}}],
		"HostNetwork":true,"Volumes":[{"name":"v","image":{"reference":"x"}}]}}`
	w, err := workload.Decode(podGVK, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "good.example.com/app:1",
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{}}}}}
	if diff := cmp.Diff(want, w.Spec); diff != "" {
		t.Errorf("Spec (-want +got):\n%s", diff)
	}
	if w.Object.Labels != nil {
		t.Errorf("Labels = %v, want none (the field was spelled Labels)", w.Object.Labels)
	}
	// The API machinery's decoder agrees.
	var pod corev1.Pod
	if err := kjson.UnmarshalCaseSensitivePreserveInts([]byte(data), &pod); err != nil {
		t.Fatal(err)
	}
	if _, _, spec := decodedView(&pod.ObjectMeta, &pod.ObjectMeta, &pod.Spec); !equality.Semantic.DeepEqual(spec, w.Spec) {
		t.Errorf("API machinery decoded %+v", pod.Spec)
	}
}

// decodedView is what workload.Decode keeps of an object: the metadata fields sealgate reads, and
// the pod spec without the fields no rule reads (pkg/workload/skip.go).
func decodedView(obj, tmpl *metav1.ObjectMeta, spec *corev1.PodSpec) (*metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec) {
	lean := func(m *metav1.ObjectMeta) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Name: m.Name, GenerateName: m.GenerateName, Namespace: m.Namespace,
			Labels: m.Labels, Annotations: m.Annotations}
	}
	s := spec.DeepCopy()
	s.Tolerations, s.Affinity, s.TopologySpreadConstraints = nil, nil, nil
	clear := func(c *corev1.Container) {
		c.EnvFrom, c.VolumeDevices = nil, nil
		for i := range c.Env {
			c.Env[i].ValueFrom = nil
		}
		for i := range c.VolumeMounts {
			m := &c.VolumeMounts[i]
			*m = corev1.VolumeMount{Name: m.Name, ReadOnly: m.ReadOnly}
		}
	}
	for i := range s.Containers {
		clear(&s.Containers[i])
	}
	for i := range s.InitContainers {
		clear(&s.InitContainers[i])
	}
	for i := range s.EphemeralContainers {
		clear((*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon))
	}
	for i := range s.Volumes {
		presenceOnly(&s.Volumes[i].VolumeSource)
	}
	return lean(obj), lean(tmpl), s
}

// presenceOnly empties every set volume source but hostPath and image: the decoder reads only
// whether the others are set (skip.go).
func presenceOnly(src *corev1.VolumeSource) {
	v := reflect.ValueOf(src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch v.Type().Field(i).Name {
		case "HostPath", "Image":
			continue
		}
		if !f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
	}
}

// TestDecodeDuplicateFields: a repeated name takes its last value, exactly as the API server's
// decoder reads it (an API server never sends one; kubectl's strict field validation rejects them).
func TestDecodeDuplicateFields(t *testing.T) {
	for name, data := range map[string]string{
		"image":        `{"spec":{"containers":[{"name":"a","image":"good","image":"evil"}]}}`,
		"privileged":   `{"spec":{"containers":[{"name":"a","securityContext":{"privileged":false,"privileged":true}}]}}`,
		"spec":         `{"spec":{"containers":[]},"spec":{"containers":[{"name":"a"}]}}`,
		"label":        `{"metadata":{"labels":{"a":"1","a":"2"}},"spec":{}}`,
		"escaped name": `{"spec":{"containers":[{"name":"a","image":"good","\u0069mage":"evil"}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			w, err := workload.Decode(podGVK, []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			if err := kjson.UnmarshalCaseSensitivePreserveInts([]byte(data), &pod); err != nil {
				t.Fatal(err)
			}
			obj, _, spec := decodedView(&pod.ObjectMeta, &pod.ObjectMeta, &pod.Spec)
			if diff := cmp.Diff(spec, w.Spec); diff != "" {
				t.Errorf("Spec differs from the API machinery's reading (-apimachinery +Decode):\n%s", diff)
			}
			if diff := cmp.Diff(obj.Labels, w.Object.Labels); diff != "" {
				t.Errorf("labels differ (-apimachinery +Decode):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"empty":         ``,
		"truncated":     `{"spec":{"containers":[{"name":"a"`,
		"not an object": `[]`,
		"wrong type":    `{"spec":{"containers":{"name":"a"}}}`,
		"trailing":      `{"spec":{}} {}`,
		"bad quantity":  `{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"lots"}}}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := workload.Decode(podGVK, []byte(data)); err == nil {
				t.Error("Decode accepted malformed input")
			}
		})
	}
}

// corpusEntry is one object of the differential corpus.
type corpusEntry struct {
	name string
	data []byte
}

func corpus(t *testing.T) []corpusEntry {
	t.Helper()
	var out []corpusEntry
	for _, k := range workload.Kinds {
		data, err := json.Marshal(typedKinds[k.GVK.Kind].fixture())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusEntry{"fixture/" + k.GVK.Kind, data})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.json: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusEntry{f, data})
	}
	return out
}

// TestDecodeMatchesAPIMachinery decodes every object of the corpus twice: with workload.Decode and
// with the decoder the API server uses (sigs.k8s.io/json, case-sensitive, ints preserved) into the
// real typed object. Both must see the same pod spec and metadata: the fast decoder must not judge
// anything other than what the API server stores.
func TestDecodeMatchesAPIMachinery(t *testing.T) {
	for _, c := range corpus(t) {
		t.Run(c.name, func(t *testing.T) {
			var head metav1.TypeMeta
			if err := kjson.UnmarshalCaseSensitivePreserveInts(c.data, &head); err != nil {
				t.Fatal(err)
			}
			gvk := schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)
			tk, ok := typedKinds[gvk.Kind]
			if !ok {
				t.Fatalf("no typed kind for %v", gvk)
			}
			typed := tk.new()
			if err := kjson.UnmarshalCaseSensitivePreserveInts(c.data, typed); err != nil {
				t.Fatalf("API machinery rejects the corpus entry, which is meant to be valid: %v", err)
			}
			w, err := workload.Decode(gvk, c.data)
			if err != nil {
				t.Fatalf("workload.Decode rejects what the API machinery accepts: %v", err)
			}
			wantObj, wantTmpl, wantSpec := decodedView(tk.parts(typed))
			if !equality.Semantic.DeepEqual(wantSpec, w.Spec) {
				t.Errorf("pod specs differ (-API machinery +workload.Decode):\n%s", cmp.Diff(wantSpec, w.Spec, quantityCmp))
			}
			// Stricter than Semantic: nil and empty lists and maps must agree too.
			if diff := cmp.Diff(wantSpec, w.Spec, quantityCmp); diff != "" {
				t.Errorf("pod specs differ structurally (-API machinery +workload.Decode):\n%s", diff)
			}
			if diff := cmp.Diff(wantTmpl, w.Template); diff != "" {
				t.Errorf("template metadata differs (-API machinery +workload.Decode):\n%s", diff)
			}
			if diff := cmp.Diff(wantObj, w.Object); diff != "" {
				t.Errorf("object metadata differs (-API machinery +workload.Decode):\n%s", diff)
			}
		})
	}
}

// TestDecodeRejectsWhatAPIMachineryRejects decodes every object of testdata/invalid (type errors in
// the fields the decoder reads, in each of its hand-written unmarshalers, and malformed JSON) both
// ways: the API machinery must reject each one (else the entry tests nothing), and so must
// workload.Decode, with a message that says where.
func TestDecodeRejectsWhatAPIMachineryRejects(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/invalid/*.json: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			kind := strings.SplitN(filepath.Base(f), "-", 2)[0]
			var gvk schema.GroupVersionKind
			for _, k := range workload.Kinds {
				if strings.EqualFold(k.GVK.Kind, kind) {
					gvk = k.GVK
				}
			}
			tk, ok := typedKinds[gvk.Kind]
			if !ok {
				t.Fatalf("file name %s does not start with a kind", f)
			}
			if err := kjson.UnmarshalCaseSensitivePreserveInts(data, tk.new()); err == nil {
				t.Fatalf("the API machinery accepts %s: not an invalid entry", data)
			}
			w, err := workload.Decode(gvk, data)
			if err == nil {
				t.Fatalf("workload.Decode accepts what the API machinery rejects: %s\nspec: %+v", data, w.Spec)
			}
			if !strings.Contains(err.Error(), "decoding "+gvk.Kind) {
				t.Errorf("error %q does not say what was decoded", err)
			}
		})
	}
}

func TestKindNamed(t *testing.T) {
	for _, c := range []struct {
		name string
		want string // the kind's GroupKind, "" when the name is not accepted
	}{
		{"Pod", "Pod"},
		{"Deployment", "Deployment.apps"},
		{"apps/Deployment", "Deployment.apps"},
		{"batch/CronJob", "CronJob.batch"},
		{"CronJob", "CronJob.batch"},
		{"PodTemplate", "PodTemplate"},
		{"ReplicationController", "ReplicationController"},
		{"deployment", ""},
		{"Deployments", ""},
		{"deployments", ""},
		{"extensions/Deployment", ""},
		{"batch/Deployment", ""},
		{"apps/v1/Deployment", ""},
		{"v1/Pod", ""},
		{"/Pod", ""},
		{"core/Pod", ""},
		{"apps/", ""},
		{"", ""},
		{"Service", ""},
	} {
		k, ok := workload.KindNamed(c.name)
		got := ""
		if ok {
			got = k.GVK.GroupKind().String()
		}
		if got != c.want {
			t.Errorf("KindNamed(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	// A bare kind names one kind only if no two groups share it.
	seen := map[string]bool{}
	for _, n := range workload.KindNames() {
		if seen[n] {
			t.Errorf("kind %s is in two groups; a bare name would be ambiguous", n)
		}
		seen[n] = true
		if _, ok := workload.KindNamed(n); !ok {
			t.Errorf("KindNamed does not accept %q from KindNames", n)
		}
	}
	if len(seen) != len(workload.Kinds) {
		t.Errorf("KindNames lists %d kinds, Kinds has %d", len(seen), len(workload.Kinds))
	}
}

// TestRemoved: every removed version maps to a served kind with the same pod template path.
func TestRemoved(t *testing.T) {
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "extensions", Version: "v1beta1", Kind: "Deployment"},
		{Group: "apps", Version: "v1beta2", Kind: "StatefulSet"},
		{Group: "batch", Version: "v1beta1", Kind: "CronJob"},
	} {
		r, ok := workload.Removed(gvk)
		if !ok {
			t.Errorf("%s: not removed", gvk)
			continue
		}
		if _, ok := workload.Lookup(r.Served); !ok || r.Served.Kind != gvk.Kind || r.RemovedIn == "" {
			t.Errorf("%s: served as %s (known %v), removed in %q", gvk, r.Served, ok, r.RemovedIn)
		}
	}
	for _, gvk := range []schema.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "extensions", Version: "v1beta1", Kind: "Ingress"}} {
		if _, ok := workload.Removed(gvk); ok {
			t.Errorf("%s: removed, want not", gvk)
		}
	}
}
