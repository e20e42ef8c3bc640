// Package pssfixtures reads the Pod Security fixtures k8s.io/pod-security-admission ships for the
// pinned version (test/testdata: a pod per check, level, version and outcome), and wraps a fixture
// pod in any pod-bearing kind. The tests that hold sealgate to the upstream checks use it: the
// in-process difference of the generated ValidatingAdmissionPolicy (pkg/vap) and the verdicts
// through a real API server (test/integration).
package pssfixtures

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/workload"
)

// Fixture is one distinct upstream fixture pod.
type Fixture struct {
	// Files are the fixture files that hold this pod (many versions repeat one), relative to the
	// testdata directory: level/version/outcome/name.yaml.
	Files []string
	Pod   map[string]any
}

// Load reads the distinct fixture pods of the k8s.io/pod-security-admission module that the module
// in dir (or the working directory, for "") requires, each once.
func Load(dir string) ([]Fixture, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("locating k8s.io/pod-security-admission: %w", err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "test", "testdata")
	files, err := filepath.Glob(filepath.Join(root, "*", "v1.*", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no upstream fixtures under %s (%v)", root, err)
	}
	sort.Strings(files)
	seen := map[[32]byte]int{}
	var fixtures []Fixture
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if i, ok := seen[sum]; ok {
			fixtures[i].Files = append(fixtures[i].Files, rel)
			continue
		}
		seen[sum] = len(fixtures)
		var pod map[string]any
		if err := yaml.Unmarshal(b, &pod); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		fixtures = append(fixtures, Fixture{Files: []string{rel}, Pod: pod})
	}
	return fixtures, nil
}

// Wrap puts a fixture pod into kind k as name in ns, the way a chart would: the pod's metadata and
// spec become the template's, with the labels a controller's selector needs and the restart policy
// a Job needs. The pod is not changed.
func Wrap(k workload.Kind, pod map[string]any, ns, name string) map[string]any {
	podMeta, _ := pod["metadata"].(map[string]any)
	spec, _ := DeepCopy(pod["spec"]).(map[string]any)
	labels := map[string]any{"verdict": name}
	if l, ok := podMeta["labels"].(map[string]any); ok {
		for k, v := range l {
			labels[k] = v
		}
	}
	meta := map[string]any{"labels": labels}
	if a, ok := podMeta["annotations"]; ok {
		meta["annotations"] = DeepCopy(a)
	}
	template := map[string]any{"metadata": meta, "spec": spec}
	selector := map[string]any{"matchLabels": map[string]any{"verdict": name}}
	obj := map[string]any{"apiVersion": k.GVK.GroupVersion().String(), "kind": k.GVK.Kind,
		"metadata": map[string]any{"name": name, "namespace": ns}}
	switch k.GVK.Kind {
	case "Pod":
		obj["metadata"].(map[string]any)["labels"] = labels
		if a, ok := meta["annotations"]; ok {
			obj["metadata"].(map[string]any)["annotations"] = a
		}
		obj["spec"] = spec
	case "PodTemplate":
		obj["template"] = template
	case "Job":
		spec["restartPolicy"] = "Never"
		obj["spec"] = map[string]any{"template": template}
	case "CronJob":
		spec["restartPolicy"] = "Never"
		obj["spec"] = map[string]any{"schedule": "0 0 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	case "ReplicationController":
		obj["spec"] = map[string]any{"selector": map[string]any{"verdict": name}, "template": template}
	case "StatefulSet":
		obj["spec"] = map[string]any{"selector": selector, "serviceName": name, "template": template}
	default: // Deployment, ReplicaSet, DaemonSet
		obj["spec"] = map[string]any{"selector": selector, "template": template}
	}
	return obj
}

// DeepCopy copies a value decoded from JSON.
func DeepCopy(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pssfixtures: copying a JSON value: %v", err)) // only JSON values are copied
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("pssfixtures: copying a JSON value: %v", err))
	}
	return out
}
