package cluster

import (
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

func compiled(t *testing.T, name string) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(ps []*policy.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestStore(t *testing.T) {
	s := NewStore()
	if _, err := s.Policies(); err == nil {
		t.Fatal("a store that has not loaded must say so: an empty policy set would admit everything")
	}
	s.Put(compiled(t, "zeta"))
	s.Put(compiled(t, "alpha"))
	s.MarkLoaded()
	ps, err := s.Policies()
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ps); len(got) != 2 || got[0] != "alpha" || got[1] != "zeta" {
		t.Errorf("policies = %v, want [alpha zeta] in name order", got)
	}
	s.Delete("alpha")
	ps, _ = s.Policies()
	if got := names(ps); len(got) != 1 || got[0] != "zeta" {
		t.Errorf("after delete: %v", got)
	}
	if _, ok := s.Get("alpha"); ok {
		t.Error("deleted policy still in the store")
	}
	// A snapshot handed out earlier is not changed by later writes.
	before := ps
	s.Put(compiled(t, "beta"))
	if len(before) != 1 {
		t.Errorf("snapshot changed under its reader: %v", names(before))
	}
}

func TestStoreConcurrent(t *testing.T) {
	s := NewStore()
	s.MarkLoaded()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				s.Put(compiled(t, "p"))
				s.Delete("p")
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if _, err := s.Policies(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
