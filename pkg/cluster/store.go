// Package cluster connects sealgate to a cluster: policies and namespaces from informers, policy
// status, and self-managed serving certificates.
package cluster

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sealgate/sealgate/pkg/policy"
)

// Store holds the policies in force. Readers get a snapshot without locking; the reconciler replaces
// it on every change. It satisfies admission.PolicySource.
type Store struct {
	mu       sync.Mutex
	byName   map[string]*policy.Policy
	snapshot atomic.Pointer[[]*policy.Policy]
	loaded   atomic.Bool
}

// NewStore returns an empty store that reports not-loaded until MarkLoaded.
func NewStore() *Store {
	return &Store{byName: map[string]*policy.Policy{}}
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
func (s *Store) MarkLoaded() { s.loaded.Store(true) }

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
	s.byName[p.Name] = p
	s.publish()
}

// Delete takes a policy out of force.
func (s *Store) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byName, name)
	s.publish()
}

func (s *Store) publish() {
	list := make([]*policy.Policy, 0, len(s.byName))
	for _, p := range s.byName {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b *policy.Policy) int { return strings.Compare(a.Name, b.Name) })
	s.snapshot.Store(&list)
}
