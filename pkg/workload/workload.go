// Package workload finds the pod spec inside every pod-bearing kind, with the field path to it.
// It is the one place that knows the shape of each kind; everything downstream sees a pod spec.
package workload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Workload is a decoded pod-bearing object.
type Workload struct {
	GVK schema.GroupVersionKind
	// Object is the object's own metadata: name, generateName, namespace, labels and annotations,
	// and with DecodeListed uid, resourceVersion and ownerReferences (nothing else of ObjectMeta is
	// decoded).
	Object *metav1.ObjectMeta
	// Template is the pod's metadata, with the same fields (for a Pod, the same as Object).
	Template *metav1.ObjectMeta
	Spec     *corev1.PodSpec
	// SpecPath and MetaPath are the field paths of Spec and Template in the object.
	SpecPath, MetaPath string
	// ContainerIndex and InitContainerIndex, when set, give the index in the object of each of
	// Spec's containers (init containers): a custom kind's entries that patch generated containers
	// are left out of Spec (CustomKind.Generated), and the paths must still name the object's own.
	ContainerIndex, InitContainerIndex []int
	// Unjudged holds the paths of those patch entries (at most MaxUnjudged, then "…"): they are not evaluated,
	// and the front ends say so rather than drop them without a word.
	Unjudged []string
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
	// meta is the part of ObjectMeta the rules and matching read. managedFields, owner references,
	// timestamps and the rest, usually most of an object's metadata, are skipped.
	meta struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Namespace    string            `json:"namespace"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		// The identity the audit reads of an object it lists, in the same pass; decoded only when
		// identity is set (DecodeListed), so that admission never pays for it.
		UID             types.UID               `json:"uid"`
		ResourceVersion string                  `json:"resourceVersion"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		identity        bool
	}
	podTemplate struct {
		Metadata meta           `json:"metadata"`
		Spec     corev1.PodSpec `json:"spec"`
	}
	templateSpec struct {
		Template podTemplate `json:"template"`
	}
	templateShape struct {
		Metadata meta         `json:"metadata"`
		Spec     templateSpec `json:"spec"`
	}
	podTemplateShape struct {
		Metadata meta        `json:"metadata"`
		Template podTemplate `json:"template"`
	}
	jobTemplate struct {
		Spec templateSpec `json:"spec"`
	}
	cronJobSpec struct {
		JobTemplate jobTemplate `json:"jobTemplate"`
	}
	cronJobShape struct {
		Metadata meta        `json:"metadata"`
		Spec     cronJobSpec `json:"spec"`
	}
)

func (m *meta) objectMeta() *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: m.Name, GenerateName: m.GenerateName, Namespace: m.Namespace,
		Labels: m.Labels, Annotations: m.Annotations, UID: m.UID, ResourceVersion: m.ResourceVersion,
		OwnerReferences: m.OwnerReferences}
}

// Decode reads a pod-bearing object of the given kind from JSON. It returns ErrNotWorkload for other
// kinds. Decoding is case-sensitive and rejects duplicate fields, as the API server's strict field
// validation does; unknown fields are ignored, as the API server ignores them.
func Decode(gvk schema.GroupVersionKind, data []byte) (*Workload, error) {
	return decode(gvk, false, func(v any) error { return json.Unmarshal(data, v, Options) })
}

// DecodeListed is Decode for an object as the API server lists it: Object also holds its uid,
// resourceVersion and ownerReferences, read in the same pass.
func DecodeListed(gvk schema.GroupVersionKind, data []byte) (*Workload, error) {
	return decode(gvk, true, func(v any) error { return json.Unmarshal(data, v, Options) })
}

// DecodeFrom reads the next value of dec as a pod-bearing object, so that a caller reading an
// envelope (an AdmissionReview) decodes the object in the same pass. dec must have been made with
// Options.
func DecodeFrom(gvk schema.GroupVersionKind, dec *jsontext.Decoder) (*Workload, error) {
	base := string(dec.StackPointer())
	return decode(gvk, false, func(v any) error {
		err := json.UnmarshalDecode(dec, v, Options)
		// Say where in the object, as decoding the object alone would.
		var sem *json.SemanticError
		if errors.As(err, &sem) {
			sem.JSONPointer = jsontext.Pointer(strings.TrimPrefix(string(sem.JSONPointer), base))
		}
		return err
	})
}

func decode(gvk schema.GroupVersionKind, identity bool, unmarshal func(any) error) (*Workload, error) {
	k, ok := Lookup(gvk)
	if !ok {
		return nil, ErrNotWorkload
	}
	w := &Workload{GVK: gvk, SpecPath: k.SpecPath, MetaPath: k.MetaPath}
	var err error
	switch gvk.Kind {
	case "Pod":
		var s podTemplate
		s.Metadata.identity = identity
		err = unmarshal(&s)
		w.Object, w.Spec = s.Metadata.objectMeta(), &s.Spec
		w.Template = w.Object
	case "PodTemplate":
		var s podTemplateShape
		s.Metadata.identity = identity
		err = unmarshal(&s)
		w.Object, w.Template, w.Spec = s.Metadata.objectMeta(), s.Template.Metadata.objectMeta(), &s.Template.Spec
	case "CronJob":
		var s cronJobShape
		s.Metadata.identity = identity
		err = unmarshal(&s)
		t := &s.Spec.JobTemplate.Spec.Template
		w.Object, w.Template, w.Spec = s.Metadata.objectMeta(), t.Metadata.objectMeta(), &t.Spec
	default: // Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController
		var s templateShape
		s.Metadata.identity = identity
		err = unmarshal(&s)
		w.Object, w.Template, w.Spec = s.Metadata.objectMeta(), s.Spec.Template.Metadata.objectMeta(), &s.Spec.Template.Spec
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

// KindNamed returns the pod-bearing kind a policy names (spec.match.kinds): its kind, exactly as the
// API spells it ("Deployment"), or its API group and kind ("apps/Deployment"); the core group has no
// name to write, so core kinds are written alone ("Pod"). Versions are not written: sealgate checks
// one version of each kind.
func KindNamed(name string) (Kind, bool) {
	group, kind, grouped := strings.Cut(name, "/")
	if !grouped {
		group, kind = "", name
	}
	for _, k := range Kinds {
		if k.GVK.Kind == kind && (!grouped || group != "" && k.GVK.Group == group) {
			return k, true
		}
	}
	return Kind{}, false
}

// KindNames lists the kinds KindNamed accepts, without their groups, in the order of Kinds.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.GVK.Kind
	}
	return out
}

// Options are the decoder settings that make json v2 read objects as the API server does: names
// matched case-sensitively, unknown names skipped, invalid UTF-8 (and lone surrogate escapes) turned
// into U+FFFD rather than rejected, and a repeated name taking the last value. Fields no rule reads
// are skipped without being stored (see skip.go), and the shapes and containers are read by
// hand-written unmarshalers (see fast.go).
var Options = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true),
	json.WithUnmarshalers(json.JoinUnmarshalers(fast, skipped)))
