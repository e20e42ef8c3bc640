// Package workload finds the pod spec inside every pod-bearing kind, with the field path to it.
// It is the one place that knows the shape of each kind; everything downstream sees a pod spec.
package workload

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Workload is a decoded pod-bearing object.
type Workload struct {
	GVK schema.GroupVersionKind
	// Object is the object's own metadata: name, namespace and labels (for objectSelector).
	Object *metav1.ObjectMeta
	// Template is the pod's metadata (for a Pod, the same as Object).
	Template *metav1.ObjectMeta
	Spec     *corev1.PodSpec
	// SpecPath and MetaPath are the field paths of Spec and Template in the object.
	SpecPath, MetaPath string
}

// ErrNotWorkload is returned for kinds that carry no pod spec.
var ErrNotWorkload = errors.New("not a pod-bearing kind")

// Kind describes one pod-bearing kind: where its pod template is.
type Kind struct {
	GVK      schema.GroupVersionKind
	Resource string // plural resource name, for webhook rules
	SpecPath string
	MetaPath string
}

// Kinds lists every pod-bearing kind sealgate checks, in the order the docs list them.
var Kinds = []Kind{
	{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "pods", "spec", "metadata"},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, "replicasets", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, "statefulsets", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}, "daemonsets", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, "jobs", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}, "cronjobs", "spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata"},
	{schema.GroupVersionKind{Version: "v1", Kind: "ReplicationController"}, "replicationcontrollers", "spec.template.spec", "spec.template.metadata"},
	{schema.GroupVersionKind{Version: "v1", Kind: "PodTemplate"}, "podtemplates", "template.spec", "template.metadata"},
}

// The shapes below hold only what sealgate reads; the decoder skips every other field, which is what
// makes decoding cheap. Field names match the API exactly and the decoder is case-sensitive.
type (
	podShape struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     corev1.PodSpec    `json:"spec"`
	}
	templateSpec struct {
		Template corev1.PodTemplateSpec `json:"template"`
	}
	templateShape struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     templateSpec      `json:"spec"`
	}
	podTemplateShape struct {
		Metadata metav1.ObjectMeta      `json:"metadata"`
		Template corev1.PodTemplateSpec `json:"template"`
	}
	cronJobShape struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     struct {
			JobTemplate struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     templateSpec      `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
)

// Decode reads a pod-bearing object of the given kind from JSON. It returns ErrNotWorkload for other
// kinds. Decoding is case-sensitive and rejects duplicate fields, as the API server's strict field
// validation does; unknown fields are ignored, as the API server ignores them.
func Decode(gvk schema.GroupVersionKind, data []byte) (*Workload, error) {
	k, ok := Lookup(gvk)
	if !ok {
		return nil, ErrNotWorkload
	}
	w := &Workload{GVK: gvk, SpecPath: k.SpecPath, MetaPath: k.MetaPath}
	var err error
	switch gvk.Kind {
	case "Pod":
		var s podShape
		err = unmarshal(data, &s)
		w.Object, w.Template, w.Spec = &s.Metadata, &s.Metadata, &s.Spec
	case "PodTemplate":
		var s podTemplateShape
		err = unmarshal(data, &s)
		w.Object, w.Template, w.Spec = &s.Metadata, &s.Template.ObjectMeta, &s.Template.Spec
	case "CronJob":
		var s cronJobShape
		err = unmarshal(data, &s)
		t := &s.Spec.JobTemplate.Spec.Template
		w.Object, w.Template, w.Spec = &s.Metadata, &t.ObjectMeta, &t.Spec
	default: // Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController
		var s templateShape
		err = unmarshal(data, &s)
		w.Object, w.Template, w.Spec = &s.Metadata, &s.Spec.Template.ObjectMeta, &s.Spec.Template.Spec
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", gvk.Kind, err)
	}
	return w, nil
}

// Lookup returns the kind description of a pod-bearing GVK.
func Lookup(gvk schema.GroupVersionKind) (Kind, bool) {
	for _, k := range Kinds {
		if k.GVK == gvk {
			return k, true
		}
	}
	return Kind{}, false
}

func unmarshal(data []byte, v any) error {
	// json v2 defaults: case-sensitive names, duplicate names rejected, unknown names skipped.
	// Invalid UTF-8 (and lone surrogate escapes) become U+FFFD, as the API server's decoder makes
	// them, rather than an error: the decoder must see what the API server sees.
	return json.Unmarshal(data, v, jsontext.AllowInvalidUTF8(true))
}
