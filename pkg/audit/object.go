// Package audit evaluates what is already in a cluster with the admission engine: every pod-bearing
// object, grouped under the controller at the top of its owner chain, with the verdict the webhook
// would give it today. `sealgate audit`, the background audit of `sealgate serve` and the what-if
// warnings on policy changes all run it.
package audit

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/workload"
)

// Object is a pod-bearing object as the audit keeps it: its identity, its controller, and the
// decoded workload, which holds only the fields a rule reads (pkg/workload skips the rest). Status,
// managedFields and every other field are gone, so an informer that stores Objects holds memory in
// proportion to what is checked. An Object is never modified once made.
type Object struct {
	metav1.TypeMeta
	// ObjectMeta holds the name, namespace, UID and resourceVersion, and nothing else.
	metav1.ObjectMeta
	// Owner is the controller owner reference; nil when nothing controls the object.
	Owner *Ref
	// Workload is the object's pod spec and metadata as the engine reads them.
	Workload *workload.Workload
}

// Ref names an object in the same namespace as the one that refers to it.
type Ref struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid,omitempty"`
}

// DeepCopyObject implements runtime.Object. An Object is immutable, so the copy shares the workload.
func (o *Object) DeepCopyObject() runtime.Object {
	c := *o
	c.ObjectMeta = *o.ObjectMeta.DeepCopy()
	return &c
}

// IsPod reports whether the object is a Pod.
func (o *Object) IsPod() bool { return o.GroupVersionKind() == podGVK }

var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// FromJSON decodes one object of a pod-bearing kind from its JSON, as the API server lists it, in
// one pass: pkg/workload reads the identity with the workload.
func FromJSON(gvk schema.GroupVersionKind, data []byte) (*Object, error) {
	w, err := workload.DecodeListed(gvk, data)
	if err != nil {
		return nil, err
	}
	return fromWorkload(gvk, w), nil
}

// FromTyped turns a typed object of a pod-bearing kind (as client-go's informers deliver it) into an
// Object. The workload is decoded from the object's JSON with the same decoder as an admission
// request, so an audit reads exactly what the webhook would.
func FromTyped(obj runtime.Object) (*Object, error) {
	gvk, ok := typedKind(obj)
	if !ok {
		return nil, fmt.Errorf("%T is not a pod-bearing kind", obj)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", gvk.Kind, err)
	}
	w, err := workload.DecodeListed(gvk, data)
	if err != nil {
		return nil, err
	}
	return fromWorkload(gvk, w), nil
}

// Transform is an informer transform (cache.TransformFunc): it replaces each pod-bearing object by
// its Object, so the informer's store keeps only what the rules read. Anything else, a deletion
// tombstone among them, passes unchanged.
func Transform(obj any) (any, error) {
	ro, ok := obj.(runtime.Object)
	if !ok {
		return obj, nil
	}
	if _, ok := typedKind(ro); !ok {
		return obj, nil
	}
	return FromTyped(ro)
}

// fromWorkload makes the Object of a decoded workload: its identity and controller from the
// object's metadata, which it then trims to what matching reads.
func fromWorkload(gvk schema.GroupVersionKind, w *workload.Workload) *Object {
	m := w.Object
	o := &Object{ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
		ResourceVersion: m.ResourceVersion}, Workload: w}
	o.SetGroupVersionKind(gvk)
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			o.Owner = &Ref{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID}
			break
		}
	}
	// The rules read the pod template's metadata and matching the object's labels; a controller's
	// own annotations (last-applied-configuration is as big as the object) and every object's
	// identity, now in o, are dropped.
	trimmed := &metav1.ObjectMeta{Name: m.Name, GenerateName: m.GenerateName, Namespace: m.Namespace, Labels: m.Labels}
	if w.Object == w.Template {
		trimmed.Annotations = m.Annotations
		w.Template = trimmed
	}
	w.Object = trimmed
	return o
}

// typedKind is the kind of a typed client-go object, which carries no TypeMeta once decoded.
func typedKind(obj runtime.Object) (schema.GroupVersionKind, bool) {
	var gvk schema.GroupVersionKind
	switch obj.(type) {
	case *corev1.Pod:
		gvk = podGVK
	case *corev1.ReplicationController:
		gvk = corev1.SchemeGroupVersion.WithKind("ReplicationController")
	case *corev1.PodTemplate:
		gvk = corev1.SchemeGroupVersion.WithKind("PodTemplate")
	case *appsv1.Deployment:
		gvk = appsv1.SchemeGroupVersion.WithKind("Deployment")
	case *appsv1.ReplicaSet:
		gvk = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	case *appsv1.StatefulSet:
		gvk = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	case *appsv1.DaemonSet:
		gvk = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	case *batchv1.Job:
		gvk = batchv1.SchemeGroupVersion.WithKind("Job")
	case *batchv1.CronJob:
		gvk = batchv1.SchemeGroupVersion.WithKind("CronJob")
	default:
		return gvk, false
	}
	_, ok := workload.Lookup(gvk)
	return gvk, ok
}
