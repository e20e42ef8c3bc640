package verify

import (
	"context"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/rules"
)

// session is the registry state of one request, kept on its rules.Target so that the signature
// checks of every policy and the image-config reads of every rule share it:
//   - one deadline for all registry work of the request, Options.Timeout from its first registry
//     use, so that a pod under two signature policies and an image-config rule still gets a reasoned
//     answer before the webhook's timeout;
//   - the pod's credentials, its Secrets read at most once;
//   - the tags resolved to digests, so that an image both signature-checked and config-checked
//     costs one HEAD. Only successes are kept: a failure may depend on the credentials used.
type session struct {
	v        *Verifier
	deadline time.Time
	creds    *pullCredentials
	pod      *podAuths

	mu      sync.Mutex // checkImage resolves tags from several goroutines
	digests map[string]string
}

// session returns the request's session, creating it on the first registry use. A Target is used
// by one request at a time, and the engine calls the verifier from one goroutine.
func (v *Verifier) session(t *rules.Target) *session {
	if s, ok := t.RegistrySession.(*session); ok && s.v == v {
		return s
	}
	ns := t.Namespace
	if ns == "" {
		ns = t.Meta.Namespace
	}
	s := &session{v: v, deadline: time.Now().Add(v.opts.Timeout), creds: v.podCredentials(t.Spec, ns), pod: &podAuths{}}
	t.RegistrySession = s
	return s
}

// bound returns ctx cut at the request's registry deadline.
func (s *session) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, s.deadline)
}

// resolve returns the digest ref's tag points to, asking the registry once per request.
func (s *session) resolve(ctx context.Context, ref imageref.Reference, kc authn.Keychain) (string, error) {
	key := ref.Name() + ":" + ref.Tag
	s.mu.Lock()
	d, ok := s.digests[key]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := s.v.reg.resolve(ctx, ref, kc)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.digests == nil {
		s.digests = make(map[string]string)
	}
	s.digests[key] = d
	s.mu.Unlock()
	return d, nil
}
