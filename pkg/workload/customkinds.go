package workload

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CustomKind is a custom resource kind that carries a pod spec or a pod template: its pods are made
// by a controller from it, so a policy can judge them before the controller runs.
type CustomKind struct {
	GVK      schema.GroupVersionKind
	Resource string // plural resource name, for webhook rules; empty for kinds given by flag
	// SpecPath is the field path of the pod spec (or of the object that holds pod spec fields);
	// MetaPath that of the pod's metadata, empty when the kind has none.
	SpecPath, MetaPath string
	// Generated names the containers and init containers the kind's operator generates. An entry of
	// the object's containers (initContainers) with one of these names is a strategic merge patch
	// onto a container sealgate cannot see, not a container: judged alone it would lack the image
	// and security settings the operator gives it, so it is not evaluated.
	Generated, GeneratedInit []string
	// ContainerResources says the spec's resources field is the main container's, not the pod's
	// (the Prometheus Operator's spec.resources), so it is not read as pod-level resources.
	ContainerResources bool
}

// prometheusOperator builds the entry of a Prometheus Operator kind. Its spec is not a pod spec but
// holds pod spec fields under the same names (containers, initContainers, volumes, securityContext,
// hostNetwork, serviceAccountName, imagePullSecrets, ...), and the pod's labels and annotations under
// spec.podMetadata.
func prometheusOperator(version, kind, resource string, generated ...string) CustomKind {
	return CustomKind{GVK: schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: version, Kind: kind},
		Resource: resource, SpecPath: "spec", MetaPath: "spec.podMetadata",
		Generated: generated, GeneratedInit: []string{"init-config-reloader"}, ContainerResources: true}
}

func template(group, version, kind, resource, path string) CustomKind {
	return CustomKind{GVK: schema.GroupVersionKind{Group: group, Version: version, Kind: kind},
		Resource: resource, SpecPath: path + ".spec", MetaPath: path + ".metadata"}
}

// BuiltinCustomKinds is the table of well-known custom kinds that carry pods. The container names
// are those the Prometheus Operator's API reference lists as managed by the operator.
var BuiltinCustomKinds = []CustomKind{
	template("argoproj.io", "v1alpha1", "Rollout", "rollouts", "spec.template"),
	// Knative's RevisionSpec is a PodSpec with a few fields of its own beside it.
	template("serving.knative.dev", "v1", "Service", "services", "spec.template"),
	template("serving.knative.dev", "v1", "Configuration", "configurations", "spec.template"),
	{GVK: schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Revision"},
		Resource: "revisions", SpecPath: "spec", MetaPath: "metadata"},
	// jobTargetRef is a batch/v1 JobSpec.
	template("keda.sh", "v1alpha1", "ScaledJob", "scaledjobs", "spec.jobTargetRef.template"),
	template("apps.kruise.io", "v1alpha1", "CloneSet", "clonesets", "spec.template"),
	template("apps.kruise.io", "v1beta1", "StatefulSet", "statefulsets", "spec.template"),
	template("apps.kruise.io", "v1alpha1", "DaemonSet", "daemonsets", "spec.template"),
	prometheusOperator("v1", "Prometheus", "prometheuses", "prometheus", "config-reloader", "thanos-sidecar"),
	prometheusOperator("v1alpha1", "PrometheusAgent", "prometheusagents", "prometheus", "config-reloader"),
	// The API reference lists thanos-sidecar for Alertmanager too; the name is kept, as skipping a
	// patch costs less than judging it alone.
	prometheusOperator("v1", "Alertmanager", "alertmanagers", "alertmanager", "config-reloader", "thanos-sidecar"),
	prometheusOperator("v1", "ThanosRuler", "thanosrulers", "thanos-ruler", "config-reloader"),
}

// CustomKinds is the set of custom kinds a run evaluates: the built-in table and the kinds
// configured, which replace built-in entries of the same group, version and kind.
type CustomKinds []CustomKind

// NewCustomKinds returns the built-in table with extra added.
func NewCustomKinds(extra ...CustomKind) CustomKinds {
	out := slices.Clone(BuiltinCustomKinds)
	for _, k := range extra {
		if i := slices.IndexFunc(out, func(b CustomKind) bool { return b.GVK == k.GVK }); i >= 0 {
			out[i] = k
			continue
		}
		out = append(out, k)
	}
	return out
}

// Lookup returns the entry of a custom kind.
func (s CustomKinds) Lookup(gvk schema.GroupVersionKind) (CustomKind, bool) {
	for _, k := range s {
		if k.GVK == gvk {
			return k, true
		}
	}
	return CustomKind{}, false
}

// Decode reads a pod-bearing object: a kind of Kinds, or one of s. It returns ErrNotWorkload for
// other kinds, and for a custom object that has nothing at its pod spec path (an Argo Rollout
// with spec.workloadRef, whose Deployment is checked on its own).
func (s CustomKinds) Decode(gvk schema.GroupVersionKind, data []byte) (*Workload, error) {
	if _, ok := Lookup(gvk); ok {
		return Decode(gvk, data)
	}
	k, ok := s.Lookup(gvk)
	if !ok {
		return nil, ErrNotWorkload
	}
	return k.Decode(data)
}

// Decode reads an object of the kind.
func (k CustomKind) Decode(data []byte) (*Workload, error) {
	var top map[string]jsontext.Value
	if err := json.Unmarshal(data, &top, Options); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", k.GVK.Kind, err)
	}
	w := &Workload{GVK: k.GVK, SpecPath: k.SpecPath, MetaPath: k.MetaPath, Spec: &corev1.PodSpec{}}
	var object, tmpl meta
	if _, err := decodeAt(top, "metadata", &object); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", k.GVK.Kind, err)
	}
	found, err := decodeAt(top, k.SpecPath, w.Spec)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", k.GVK.Kind, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotWorkload, k.GVK.Kind, k.SpecPath)
	}
	if k.MetaPath != "" {
		if _, err := decodeAt(top, k.MetaPath, &tmpl); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", k.GVK.Kind, err)
		}
	}
	w.Object, w.Template = object.objectMeta(), tmpl.objectMeta()
	if k.ContainerResources {
		w.Spec.Resources = nil
	}
	var patches []string
	w.Spec.Containers, w.ContainerIndex, patches = withoutPatches(w.Spec.Containers, k.Generated, k.SpecPath+".containers", patches)
	w.Spec.InitContainers, w.InitContainerIndex, patches = withoutPatches(w.Spec.InitContainers, k.GeneratedInit, k.SpecPath+".initContainers", patches)
	w.Unjudged = patches
	return w, nil
}

// decodeAt decodes the value at a dotted field path of an object into v. It reports whether the
// path leads to a value (a null is none).
func decodeAt(top map[string]jsontext.Value, path string, v any) (bool, error) {
	obj := top
	fields := strings.Split(path, ".")
	for i, f := range fields {
		raw, ok := obj[f]
		if !ok || raw.Kind() == 'n' {
			return false, nil
		}
		if i == len(fields)-1 {
			if err := json.Unmarshal(raw, v, Options); err != nil {
				return true, fmt.Errorf("%s: %w", path, err)
			}
			return true, nil
		}
		obj = nil
		if err := json.Unmarshal(raw, &obj, Options); err != nil {
			return false, fmt.Errorf("%s: %w", strings.Join(fields[:i+1], "."), err)
		}
	}
	return false, nil
}

// withoutPatches drops the containers named as generated ones and returns, when it dropped any,
// the index in the object of each container kept, and patches with the path of each entry dropped
// appended (at most MaxUnjudged of them in all), so that the entries left out are said, not lost.
func withoutPatches(cs []corev1.Container, generated []string, path string, patches []string) ([]corev1.Container, []int, []string) {
	if !slices.ContainsFunc(cs, func(c corev1.Container) bool { return slices.Contains(generated, c.Name) }) {
		return cs, nil, patches
	}
	kept := make([]corev1.Container, 0, len(cs))
	index := make([]int, 0, len(cs))
	for i := range cs {
		if slices.Contains(generated, cs[i].Name) {
			switch {
			case len(patches) < MaxUnjudged:
				patches = append(patches, path+"["+strconv.Itoa(i)+"] ("+strconv.Quote(cs[i].Name)+")")
			case len(patches) == MaxUnjudged:
				patches = append(patches, "…") // more not listed
			}
			continue
		}
		kept = append(kept, cs[i])
		index = append(index, i)
	}
	return kept, index, patches
}

// MaxUnjudged bounds the paths in Workload.Unjudged, which then ends with "…": a custom object may
// hold any number of patch entries.
const MaxUnjudged = 3

// ParseCustomKind reads a custom kind as the --kind-pod-spec flag gives it: GROUP/VERSION/KIND=PATH,
// where PATH is the dotted field path of the pod spec (spec.template.spec), or of a pod template
// (spec.template), whose spec and metadata are then read. A pod spec's metadata is read from its
// sibling field metadata (spec.template.metadata for spec.template.spec, metadata for spec).
func ParseCustomKind(s string) (CustomKind, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok {
		return CustomKind{}, fmt.Errorf("%q: want GROUP/VERSION/KIND=PATH, as argoproj.io/v1alpha1/Rollout=spec.template", s)
	}
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return CustomKind{}, fmt.Errorf("%q: want GROUP/VERSION/KIND before =, as argoproj.io/v1alpha1/Rollout", name)
	}
	gv, err := schema.ParseGroupVersion(name[:i])
	if err != nil {
		return CustomKind{}, fmt.Errorf("%q: %w", name, err)
	}
	gvk := gv.WithKind(name[i+1:])
	if gvk.Group == "" || gvk.Version == "" || gvk.Kind == "" {
		return CustomKind{}, fmt.Errorf("%q: want GROUP/VERSION/KIND with all three, as argoproj.io/v1alpha1/Rollout (built-in kinds need no flag)", name)
	}
	if _, builtin := Lookup(gvk); builtin {
		return CustomKind{}, fmt.Errorf("%q is a built-in kind: sealgate already knows its pod spec", name)
	}
	fields := strings.Split(path, ".")
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "[]*/= ") {
			return CustomKind{}, fmt.Errorf("%q: PATH %q: want a dotted path of field names, as spec.template", s, path)
		}
	}
	if fields[0] == "metadata" || fields[0] == "status" {
		return CustomKind{}, fmt.Errorf("%q: PATH %q: a pod spec is not under %s", s, path, fields[0])
	}
	k := CustomKind{GVK: gvk}
	switch last := fields[len(fields)-1]; {
	case last == "template":
		k.SpecPath, k.MetaPath = path+".spec", path+".metadata"
	case len(fields) == 1:
		k.SpecPath, k.MetaPath = path, "metadata"
	case last == "spec":
		k.SpecPath, k.MetaPath = path, strings.Join(fields[:len(fields)-1], ".")+".metadata"
	default:
		k.SpecPath = path
	}
	return k, nil
}

// UnjudgedNote says which patch entries of w were not evaluated, and where they are judged instead.
func UnjudgedNote(w *Workload) string {
	return "not judged: " + strings.Join(w.Unjudged, ", ") + " patch containers the operator generates, which " +
		"sealgate cannot see here; the workload the operator makes from this object is judged when it is created"
}
