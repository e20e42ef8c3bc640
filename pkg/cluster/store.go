// Package cluster connects sealgate to a cluster: policies and namespaces from informers, policy
// status, and self-managed serving certificates.
package cluster

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/sealgate/sealgate/pkg/policy"
)

// Store holds the policies in force. Readers get a snapshot without locking; the reconciler replaces
// it on every change. It satisfies admission.PolicySource.
type Store struct {
	mu       sync.Mutex
	byName   map[string]*policy.Policy
	snapshot atomic.Pointer[[]*policy.Policy]
	loaded   atomic.Bool
	// version counts the changes of the policies in force; changed is closed at the next one.
	version uint64
	changed chan struct{}
}

// NewStore returns an empty store that reports not-loaded until MarkLoaded.
func NewStore() *Store {
	return &Store{byName: map[string]*policy.Policy{}, changed: make(chan struct{})}
}

// Changes returns the version of the policies in force and a channel that is closed when they
// change after it, so that the background audit rescans when, and only when, what is enforced
// changes. A Put of the generation already in force (a reconcile that decided the same) is no change.
func (s *Store) Changes() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.changed
}

// notify records a change; the caller holds mu.
func (s *Store) notify() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

var errNotLoaded = errors.New("the policy cache has not finished its first sync")

// Policies implements admission.PolicySource: the policies in force, in name order.
func (s *Store) Policies() ([]*policy.Policy, error) {
	if !s.loaded.Load() {
		return nil, errNotLoaded
	}
	if p := s.snapshot.Load(); p != nil {
		return *p, nil
	}
	return nil, nil
}

// MarkLoaded records that every policy that existed at start-up is in the store.
func (s *Store) MarkLoaded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded.Swap(true) {
		s.notify()
	}
}

// Loaded reports whether the first sync finished.
func (s *Store) Loaded() bool { return s.loaded.Load() }

// Get returns the policy in force under a name.
func (s *Store) Get(name string) (*policy.Policy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byName[name]
	return p, ok
}

// Put puts a compiled policy in force.
func (s *Store) Put(p *policy.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.byName[p.Name]
	s.byName[p.Name] = p
	s.publish()
	if !had || !samePolicy(old, p) {
		s.notify()
	}
}

// samePolicy reports whether two compilations are of the same generation and spec, and leave the
// same rules to the generated ValidatingAdmissionPolicy (which the fail-open check follows; it
// changes about once per generation). The spec is compared too because a generation compiled from
// status.inForce carries no UID: a policy deleted and created again under its name may start at the
// same generation.
func samePolicy(a, b *policy.Policy) bool {
	if a.Generation != b.Generation || a.Mode != b.Mode || (a.Source == nil) != (b.Source == nil) ||
		!maps.Equal(a.SkipRules, b.SkipRules) {
		return false
	}
	return a.Source == nil || apiequality.Semantic.DeepEqual(a.Source.Spec, b.Source.Spec)
}

// Delete takes a policy out of force.
func (s *Store) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, had := s.byName[name]; !had {
		return
	}
	delete(s.byName, name)
	s.publish()
	s.notify()
}

func (s *Store) publish() {
	list := make([]*policy.Policy, 0, len(s.byName))
	for _, p := range s.byName {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b *policy.Policy) int { return strings.Compare(a.Name, b.Name) })
	s.snapshot.Store(&list)
}
