package cluster

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// CompileException compiles a PolicyException from the cluster as every replica and `sealgate
// audit` decide it: valid, and naming only rules that reg knows, or not in force. It reads the
// object and nothing else, so replicas agree.
func CompileException(obj *v1alpha1.PolicyException, reg *rules.Registry) (*policy.Exception, error) {
	x, err := policy.CompileException(obj)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		if err := engine.ValidateExceptions(reg, []*policy.Exception{x}); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// ExceptionStore holds the PolicyExceptions in force, expired ones included (the engine reads
// expiry at evaluation time). Readers get a snapshot without locking. It satisfies
// engine.ExceptionSource.
type ExceptionStore struct {
	mu       sync.Mutex
	byID     map[string]*policy.Exception
	expired  map[string]bool
	snapshot atomic.Pointer[policy.ExceptionSet]
	loaded   atomic.Bool
	version  uint64
	changed  chan struct{}
	// Now is the clock of expiry; nil is time.Now.
	Now func() time.Time
}

// NewExceptionStore returns an empty store that reports not-loaded until MarkLoaded.
func NewExceptionStore() *ExceptionStore {
	return &ExceptionStore{byID: map[string]*policy.Exception{}, expired: map[string]bool{}, changed: make(chan struct{})}
}

var errExceptionsNotLoaded = errors.New("the PolicyException cache has not finished its first sync")

// Exceptions implements engine.ExceptionSource. Until the first sync it holds nothing: an admission
// before then is judged without exceptions, which can only deny more, never less; readiness waits
// for the sync (Ready).
func (s *ExceptionStore) Exceptions() *policy.ExceptionSet { return s.snapshot.Load() }

// Ready reports an error until every exception that existed at start-up is in the store.
func (s *ExceptionStore) Ready() error {
	if !s.loaded.Load() {
		return errExceptionsNotLoaded
	}
	return nil
}

// MarkLoaded records that the first sync finished.
func (s *ExceptionStore) MarkLoaded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded.Swap(true) {
		s.notify()
	}
}

// Changes returns the version of what the exceptions waive and a channel closed at the next change:
// an exception put in or out of force, changed, or expired. The background audit rescans on it.
func (s *ExceptionStore) Changes() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.changed
}

func (s *ExceptionStore) notify() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *ExceptionStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Put puts a compiled exception in force. Putting the same generation again is a change only when
// it has expired since: the reconciler puts it again at its expiry, so that the audit sees it.
func (s *ExceptionStore) Put(x *policy.Exception) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := x.ID()
	old, had := s.byID[id]
	expired := x.Expired(s.now())
	s.byID[id] = x
	if had && old.Generation == x.Generation && old.Source.UID == x.Source.UID && s.expired[id] == expired {
		return
	}
	s.expired[id] = expired
	s.publish()
	s.notify()
}

// Delete takes an exception ("namespace/name") out of force.
func (s *ExceptionStore) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, had := s.byID[id]; !had {
		return
	}
	delete(s.byID, id)
	delete(s.expired, id)
	s.publish()
	s.notify()
}

func (s *ExceptionStore) publish() {
	list := make([]*policy.Exception, 0, len(s.byID))
	for _, x := range s.byID {
		list = append(list, x)
	}
	s.snapshot.Store(policy.NewExceptionSet(list))
}
