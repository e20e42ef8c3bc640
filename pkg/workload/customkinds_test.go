package workload

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func TestCustomKindPrometheus(t *testing.T) {
	data, err := yaml.YAMLToJSON([]byte(`apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring, labels: {team: obs}}
spec:
  image: quay.io/prometheus/prometheus:v2.53.0
  podMetadata:
    labels: {app: prometheus}
    annotations: {note: x}
  resources: {limits: {memory: 2Gi}}
  hostNetwork: true
  serviceAccountName: prometheus-k8s
  securityContext: {runAsUser: 1000}
  containers:
  - {name: config-reloader, securityContext: {readOnlyRootFilesystem: true}}
  - {name: proxy, image: proxy:1}
  - {name: prometheus}
  - {name: audit, image: audit:1}
  initContainers:
  - {name: setup, image: setup:1}
  - {name: init-config-reloader}
`))
	if err != nil {
		t.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "Prometheus"}
	w, err := NewCustomKinds().Decode(gvk, data)
	if err != nil {
		t.Fatal(err)
	}
	if w.SpecPath != "spec" || w.MetaPath != "spec.podMetadata" {
		t.Errorf("paths %q %q, want spec and spec.podMetadata", w.SpecPath, w.MetaPath)
	}
	if w.Object.Name != "k8s" || w.Object.Labels["team"] != "obs" || w.Template.Labels["app"] != "prometheus" || w.Template.Annotations["note"] != "x" {
		t.Errorf("metadata: object %+v, template %+v", w.Object, w.Template)
	}
	if !w.Spec.HostNetwork || w.Spec.ServiceAccountName != "prometheus-k8s" || w.Spec.SecurityContext == nil || *w.Spec.SecurityContext.RunAsUser != 1000 {
		t.Errorf("pod spec fields not read: %+v", w.Spec)
	}
	// spec.resources is the prometheus container's, not the pod's.
	if w.Spec.Resources != nil {
		t.Errorf("spec.resources read as pod-level resources: %v", w.Spec.Resources)
	}
	var names []string
	for _, c := range w.Spec.Containers {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"proxy", "audit"}, names); diff != "" {
		t.Errorf("containers (-want +got): %s", diff)
	}
	if diff := cmp.Diff([]int{1, 3}, w.ContainerIndex); diff != "" {
		t.Errorf("container indexes (-want +got): %s", diff)
	}
	if len(w.Spec.InitContainers) != 1 || w.InitContainerIndex[0] != 0 {
		t.Errorf("init containers %v, indexes %v; want setup at 0", w.Spec.InitContainers, w.InitContainerIndex)
	}
}

func TestCustomKindDecode(t *testing.T) {
	rollout := schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}
	ks := NewCustomKinds()
	w, err := ks.Decode(rollout, []byte(`{"metadata":{"name":"r"},"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if w.SpecPath != "spec.template.spec" || w.Template.Labels["a"] != "b" || len(w.Spec.Containers) != 1 || w.ContainerIndex != nil {
		t.Errorf("rollout decoded as %+v", w)
	}
	// No pod template (spec.workloadRef): nothing to judge here.
	if _, err := ks.Decode(rollout, []byte(`{"spec":{"workloadRef":{"name":"d"}}}`)); !errors.Is(err, ErrNotWorkload) {
		t.Errorf("rollout without template: %v, want ErrNotWorkload", err)
	}
	// A type error names the path.
	if _, err := ks.Decode(rollout, []byte(`{"spec":{"template":{"spec":{"containers":"x"}}}}`)); err == nil || !strings.Contains(err.Error(), "spec.template.spec") {
		t.Errorf("bad containers: %v, want an error naming spec.template.spec", err)
	}
	if _, err := ks.Decode(rollout, []byte(`{"spec":[]}`)); err == nil || !strings.Contains(err.Error(), "spec") {
		t.Errorf("spec is an array: %v, want an error", err)
	}
	// Built-in kinds decode as before; unknown ones are not workloads.
	if w, err := ks.Decode(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []byte(`{"spec":{}}`)); err != nil || w.SpecPath != "spec" {
		t.Errorf("pod: %v %v", w, err)
	}
	if _, err := ks.Decode(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, []byte(`{}`)); !errors.Is(err, ErrNotWorkload) {
		t.Errorf("unknown kind: %v, want ErrNotWorkload", err)
	}
}

func TestParseCustomKind(t *testing.T) {
	for _, tc := range []struct{ in, spec, meta string }{
		{"example.com/v1/Widget=spec.template", "spec.template.spec", "spec.template.metadata"},
		{"example.com/v1/Widget=spec.template.spec", "spec.template.spec", "spec.template.metadata"},
		{"example.com/v1/Widget=spec", "spec", "metadata"},
		{"example.com/v1/Widget=spec.podSpec", "spec.podSpec", ""},
		{"example.com/v1/Widget=spec.job.template", "spec.job.template.spec", "spec.job.template.metadata"},
	} {
		k, err := ParseCustomKind(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if k.GVK != (schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}) || k.SpecPath != tc.spec || k.MetaPath != tc.meta {
			t.Errorf("%s: %+v, want spec %q meta %q", tc.in, k, tc.spec, tc.meta)
		}
	}
	for _, bad := range []string{"", "x", "example.com/v1/Widget", "Widget=spec", "/v1/Widget=spec", "example.com/v1/=spec",
		"v1/Pod=spec", "apps/v1/Deployment=spec.template", "example.com/v1/Widget=", "example.com/v1/Widget=.spec",
		"example.com/v1/Widget=metadata", "example.com/v1/Widget=spec.c[0]"} {
		if _, err := ParseCustomKind(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNewCustomKindsReplacesBuiltin(t *testing.T) {
	k, err := ParseCustomKind("argoproj.io/v1alpha1/Rollout=spec.other.template")
	if err != nil {
		t.Fatal(err)
	}
	ks := NewCustomKinds(k)
	if len(ks) != len(BuiltinCustomKinds) {
		t.Errorf("%d kinds, want %d: the flag replaces the built-in entry", len(ks), len(BuiltinCustomKinds))
	}
	got, _ := ks.Lookup(k.GVK)
	if got.SpecPath != "spec.other.template.spec" {
		t.Errorf("Rollout at %q, want the configured path", got.SpecPath)
	}
	// The built-in table is left as it was.
	if b, _ := CustomKinds(BuiltinCustomKinds).Lookup(k.GVK); b.SpecPath != "spec.template.spec" {
		t.Errorf("built-in table changed: %q", b.SpecPath)
	}
	for _, b := range BuiltinCustomKinds {
		if _, clash := Lookup(b.GVK); clash || b.Resource == "" || slices.Contains(KindNames(), b.GVK.Group+"/"+b.GVK.Kind) {
			t.Errorf("built-in custom kind %v clashes with a built-in kind or has no resource", b.GVK)
		}
	}
}
