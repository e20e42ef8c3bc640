//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/test/cluster"
)

// TestCheckAgreesWithClusterOnRuleFixtures: every rule's fixture cases (pkg/rules/testdata), each
// under its own policy, get from `sealgate check` the verdict the API server gives with sealgate's
// webhook. The rule fixtures exercise every rule, not only Pod Security, so a default of the API
// server that changes any rule's verdict shows here. imageConfig.* cases need a registry and are
// left out; so are cases whose policy selects namespaces itself.
func TestCheckAgreesWithClusterOnRuleFixtures(t *testing.T) {
	files, err := fixture.LoadDir(filepath.Join(cluster.Root(), "pkg", "rules", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	var policies strings.Builder
	var names []string
	var policyObjs []*unstructured.Unstructured
	var nsObjs, objs []map[string]any
	source := map[string]string{}
	for _, f := range files {
		if strings.HasPrefix(f.Rule, "imageConfig.") {
			continue
		}
		for _, c := range f.Cases {
			if c.Policy.Match.NamespaceSelector != nil {
				continue
			}
			pj, err := json.Marshal(c.Policy)
			if err != nil {
				t.Fatal(err)
			}
			i, ok := index[string(pj)]
			if !ok {
				i = len(index)
				index[string(pj)] = i
				label := fmt.Sprintf("vf-%d", i)
				ns := namespace(t, label, nil)
				nsObjs = append(nsObjs, namespaceObject(ns, map[string]any{"int-test": label}))
				spec := c.Policy
				spec.Match.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"int-test": label}}
				sj, err := json.Marshal(spec)
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, "int-"+label)
				policies.WriteString("---\n" + policyYAML("int-"+label, string(sj)))
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(policyYAML("int-"+label, string(sj))), &u.Object); err != nil {
					t.Fatal(err)
				}
				policyObjs = append(policyObjs, u)
			}
			var obj map[string]any
			if err := json.Unmarshal(c.Object, &obj); err != nil {
				t.Fatalf("%s: %s: %v", f.Rule, c.Name, err)
			}
			meta, _ := obj["metadata"].(map[string]any)
			if meta == nil {
				meta = map[string]any{}
				obj["metadata"] = meta
			}
			meta["namespace"] = fmt.Sprintf("int-vf-%d", i)
			meta["name"] = fmt.Sprintf("c%d", len(objs))
			delete(meta, "generateName")
			source[objectID(obj)] = f.Rule + ": " + c.Name
			objs = append(objs, obj)
		}
	}
	// Created through the client, not kubectl: a hundred policies are more than one kubectl apply
	// does within its timeout.
	for _, u := range policyObjs {
		if err := env.Client.Create(t.Context(), u); err != nil {
			t.Fatalf("creating policy %s: %v", u.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	}
	for _, n := range names {
		waitPolicyReady(t, n)
	}
	want, why := clusterVerdictsWhy(t, objs)
	got, _ := checkVerdicts(t, policies.String(), append(nsObjs, objs...))
	counts := map[verdict]int{}
	for _, o := range objs {
		id := objectID(o)
		counts[want[id]]++
		switch {
		case want[id] == invalid:
			// Written to test a rule, not to be created (an ephemeral container on create): the
			// API server rejects it before sealgate is asked.
			t.Logf("invalid: %s: %s", source[id], why[id])
		case got[id] != want[id]:
			t.Errorf("%s (%s): check says %s, the cluster %s", id, source[id], got[id], want[id])
		}
	}
	if counts[admitted] < 50 || counts[denied] < 50 {
		t.Fatalf("too few cases: %v", counts)
	}
	t.Logf("%d rule fixture cases under %d policies: %v", len(objs), len(names), counts)
}
