package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/audit"
)

// Markers in fields no rule reads: none of them may survive the transform.
const (
	envMarker     = "ENV-VALUE-NOT-READ-BY-ANY-RULE"
	managedMarker = "MANAGED-FIELDS-NOT-READ"
	statusMarker  = "STATUS-NOT-READ"
)

// realisticPod is a pod as a Deployment's ReplicaSet creates it and the API server returns it:
// managedFields of two managers, status, defaulted fields, the service account volume, env,
// mounts, tolerations, affinity and topology spread, most of which no rule reads.
func realisticPod(i int) *corev1.Pod {
	name := fmt.Sprintf("web-7d9f8c6b5-%05d", i)
	var env []corev1.EnvVar
	for j := range 24 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", j), Value: envMarker + strings.Repeat("x", 48)})
	}
	env = append(env, corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}})
	mounts := []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
		{Name: "config", MountPath: "/etc/app"}, {Name: "cache", MountPath: "/cache"}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	container := func(n, image string) corev1.Container {
		return corev1.Container{Name: n, Image: image, Env: env, VolumeMounts: mounts, ImagePullPolicy: corev1.PullIfNotPresent,
			EnvFrom:       []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-env"}}}},
			Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			LivenessProbe: probe, ReadinessProbe: probe,
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
			SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	}
	managed := func(manager, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	specFields := `{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},` +
		`"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{` + strings.Repeat(`"f:env":{"k:{\"name\":\"`+managedMarker+`\"}":{".":{},"f:name":{},"f:value":{}}},`, 24) + `"f:image":{}}}}}`
	statusFields := `{"f:status":{"f:conditions":{` + strings.Repeat(`"k:{\"type\":\"`+managedMarker+`\"}":{".":{},"f:lastProbeTime":{},"f:status":{}},`, 6) + `"f:podIP":{}}}}`
	now := metav1.Now()
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, GenerateName: "web-7d9f8c6b5-", Namespace: "prod",
			UID: uid("Pod", name), ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: now,
			Labels:          map[string]string{"app": "web", "pod-template-hash": "7d9f8c6b5"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{controller("apps/v1", "ReplicaSet", "web-7d9f8c6b5")},
			ManagedFields:   []metav1.ManagedFieldsEntry{managed("kube-controller-manager", specFields), managed("kubelet", statusFields)}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("app", "registry.example.com/web:1.4.2"), container("proxy", "registry.example.com/proxy:2.0")},
			Volumes: []corev1.Volume{
				{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To[int32](0o644), Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}}}}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "web",
			NodeName: "node-17", SchedulerName: "default-scheduler", TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}},
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname",
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
				WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.0.3.17", PodIP: "10.244.3.91", StartTime: &now,
			QOSClass: corev1.PodQOSBurstable, Message: statusMarker,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", Ready: true, Image: "registry.example.com/web:1.4.2", ImageID: "registry.example.com/web@sha256:" + strings.Repeat("a", 64),
					ContainerID: "containerd://" + strings.Repeat("b", 64), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
				{Name: "proxy", Ready: true, Image: "registry.example.com/proxy:2.0", ImageID: "registry.example.com/proxy@sha256:" + strings.Repeat("c", 64),
					ContainerID: "containerd://" + strings.Repeat("d", 64), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}},
	}
}

// TestTransformKeepsOnlyWhatRulesRead checks what an informer with the audit transform retains of a
// realistic pod: what a rule reads, and none of managedFields, status, tolerations, affinity or
// topology spread. Env and volume mounts are kept: the plaintext-secrets and hostPath rules read them.
func TestTransformKeepsOnlyWhatRulesRead(t *testing.T) {
	pod := realisticPod(1)
	full, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	got, err := audit.Transform(pod)
	if err != nil {
		t.Fatal(err)
	}
	o := got.(*audit.Object)
	kept, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod %d bytes of JSON, audit Object %d", len(full), len(kept))
	// The JSON counts the pod's metadata twice (Object and Template are one pointer for a pod), so
	// it overstates what the Object holds.
	// Most of what is left is the 24 env variables of each container.
	if 3*len(kept) > 2*len(full) {
		t.Errorf("the Object keeps %d bytes of JSON of a %d-byte pod; want under two thirds", len(kept), len(full))
	}
	for _, marker := range []string{managedMarker, statusMarker, "10.244.3.91", "node.kubernetes.io/not-ready",
		"topology.kubernetes.io/zone"} {
		if bytes.Contains(kept, []byte(marker)) {
			t.Errorf("the Object keeps %q, which no rule reads", marker)
		}
	}
	if o.ManagedFields != nil || o.Labels != nil || o.Annotations != nil || o.OwnerReferences != nil {
		t.Errorf("the Object's metadata holds more than its identity: %+v", o.ObjectMeta)
	}
	// What the rules read is still there.
	s := o.Workload.Spec
	if len(s.Containers) != 2 || s.Containers[0].Image != "registry.example.com/web:1.4.2" ||
		s.Containers[0].SecurityContext == nil || s.Containers[0].Resources.Limits.Memory().String() != "512Mi" ||
		len(s.Volumes) != 3 || s.Volumes[0].Projected == nil || o.Workload.Template.Labels["app"] != "web" {
		t.Errorf("the Object lost what rules read: %+v", s)
	}
}

// TestTransformDropsObjectAnnotationsNoRuleReads: the rules read the annotations of the pod template
// (AppArmor, seccomp), never those of a controller object itself, where `kubectl apply` keeps a
// full copy of the object in kubectl.kubernetes.io/last-applied-configuration.
func TestTransformDropsObjectAnnotationsNoRuleReads(t *testing.T) {
	d := typedDeployment("prod", "web", spec(goodImage, false))
	d.Spec.Template.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}
	applied, err := json.Marshal(realisticPod(1)) // stands for the applied Deployment: same size, same kind of content
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied),
		"deployment.kubernetes.io/revision": "3"}
	got, err := audit.Transform(d)
	if err != nil {
		t.Fatal(err)
	}
	o := got.(*audit.Object)
	kept, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(kept, []byte(envMarker)) {
		t.Errorf("the Object of a Deployment keeps its %d-byte last-applied-configuration annotation (%d bytes kept in all), which no rule reads",
			len(applied), len(kept))
	}
	if o.Workload.Template.Annotations["container.apparmor.security.beta.kubernetes.io/app"] != "runtime/default" {
		t.Errorf("the template's annotations, which the pod security rules read, are lost: %v", o.Workload.Template.Annotations)
	}
	if o.Workload.Object.Labels["app"] != "web" {
		t.Errorf("the object's labels, which object selectors read, are lost: %v", o.Workload.Object.Labels)
	}
}

// BenchmarkInformerMemory measures the heap an informer's store retains per pod, storing typed pods
// (no transform) or audit Objects (audit.Transform), as the custom metric B/object. Each pod is
// decoded from its own JSON, as an informer decodes each object from the wire, so nothing is shared
// between pods.
//
//	go test -run '^$' -bench InformerMemory ./pkg/audit/
func BenchmarkInformerMemory(b *testing.B) {
	const n = 2000
	raws := make([][]byte, n)
	for i := range raws {
		raw, err := json.Marshal(realisticPod(i))
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = raw
	}
	for _, tc := range []struct {
		name      string
		transform cache.TransformFunc
	}{
		{"typed", func(obj any) (any, error) { return obj, nil }},
		{"audit.Object", audit.Transform},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perObject float64
			for b.Loop() {
				store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc,
					cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
				before := heapInUse()
				for _, raw := range raws {
					pod := &corev1.Pod{}
					if err := json.Unmarshal(raw, pod); err != nil {
						b.Fatal(err)
					}
					obj, err := tc.transform(pod)
					if err != nil {
						b.Fatal(err)
					}
					if err := store.Add(obj); err != nil {
						b.Fatal(err)
					}
				}
				perObject = float64(heapInUse()-before) / n
				runtime.KeepAlive(store)
			}
			b.ReportMetric(perObject, "B/object")
			b.ReportMetric(float64(len(raws[0])), "json-B/pod")
		})
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
