package cluster

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Changes moves when the policies in force change, and only then: a reconcile that puts the same
// generation in force again (every status write of another replica, every sweep) is no change, so
// the background audit does not rescan the cluster for it.
func TestStoreChanges(t *testing.T) {
	s := NewStore()
	changed := func(step string, want bool, f func()) {
		t.Helper()
		v, ch := s.Changes()
		f()
		v2, _ := s.Changes()
		closed := false
		select {
		case <-ch:
			closed = true
		default:
		}
		if closed != want || (v2 != v) != want {
			t.Errorf("%s: channel closed %v, version %d -> %d; want changed=%v", step, closed, v, v2, want)
		}
	}
	p := compiled(t, "a")
	changed("loaded", true, s.MarkLoaded)
	changed("loaded again", false, s.MarkLoaded)
	changed("new policy", true, func() { s.Put(p) })
	changed("same generation compiled again", false, func() { s.Put(compiled(t, "a")) })
	next := compiled(t, "a")
	next.Generation = 2
	changed("new generation", true, func() { s.Put(next) })
	other, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "a", Generation: 2},
		Spec: v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{HostNamespaces: v1alpha1.Forbidden}}})
	if err != nil {
		t.Fatal(err)
	}
	changed("same generation, other spec (deleted and created again)", true, func() { s.Put(other) })
	// The generated VAP synced: the webhook leaves a rule to it, which the fail-open check follows.
	synced := *other
	synced.SkipRules = map[string]bool{"containers.hostNamespaces": true}
	changed("the VAP enforces a rule exactly", true, func() { s.Put(&synced) })
	again := synced
	changed("the same rules left to the VAP", false, func() { s.Put(&again) })
	changed("deleted", true, func() { s.Delete("a") })
	changed("deleted again", false, func() { s.Delete("a") })
}
