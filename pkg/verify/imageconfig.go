package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealgate/sealgate/pkg/rules"
)

// configKey identifies one image config read: the configs of one digest in one repository for
// one OS. Scope is the credential scope of a failure ("" for successes, which hold for every
// namespace, as signature verifications do: a config is the digest's content).
type configKey struct {
	Repository string
	Digest     string
	OS         string
	Scope      string
}

// configResult is a cached read: a config or the reason there is none.
type configResult struct {
	cfg *rules.ImageConfig
	err error
}

// Config implements engine.ImageConfigs: the config of im, read through the registry client of
// signature verification (its transport, deadlines, size bounds and credentials: the pod's image
// pull secrets, its ServiceAccount's, then sealgate's own), and cached by repository and digest.
//
// A tag is resolved to a digest once per request (shared with signature checks), since a tag may
// move and the digest is what the cache is keyed by; the HEAD also keeps a warm cache from costing
// a manifest GET, which registries such as Docker Hub count as a pull. The signature rules'
// registryCredentials are not used: a config read stands for the kubelet's pull, which uses the
// pod's credentials.
func (v *Verifier) Config(ctx context.Context, t *rules.Target, im *rules.Image) (*rules.ImageConfig, error) {
	if im.Err != nil {
		return nil, fmt.Errorf("the reference cannot be parsed: %w", im.Err)
	}
	sess := v.session(t)
	ctx, cancel := sess.bound(ctx)
	defer cancel()
	kc := v.keychain(sess.creds, sess.pod)
	digest := im.Ref.Digest
	if digest == "" {
		d, err := sess.resolve(ctx, im.Ref, kc)
		if err != nil {
			return nil, fmt.Errorf("resolving tag %q to a digest: %w", im.Ref.Tag, err)
		}
		digest = d
	}
	shared := configKey{Repository: im.Ref.Name(), Digest: digest, OS: rules.PodOS(t.Spec)}
	k := shared
	k.Scope = sess.creds.scope()
	lookup := func() (configResult, bool) {
		if r, ok := v.configs.get(shared); ok {
			return r, true
		}
		return v.configs.get(k)
	}
	if r, ok := lookup(); ok {
		return r.cfg, r.err
	}
	flight := k.Repository + "@" + k.Digest + "\x00" + k.OS + "\x00" + k.Scope
	ch := v.configGroup.DoChan(flight, func() (any, error) {
		if r, ok := lookup(); ok {
			return r, nil
		}
		// As for signatures: the shared read outlives the first caller's request, with a deadline
		// of its own, and serves every waiter and the cache.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.Timeout)
		defer cancel()
		cfg, err := v.reg.readConfig(rctx, k.Repository, digest, k.OS, kc)
		r := configResult{cfg: cfg, err: err}
		switch {
		case err == nil:
			v.configs.put(shared, r, v.opts.SuccessTTL)
		case errors.Is(err, errNotImage):
			v.configs.put(k, r, v.opts.FailureTTL)
		default:
			v.configs.put(k, r, v.opts.ErrorTTL)
		}
		return r, nil
	})
	select {
	case res := <-ch:
		r := res.Val.(configResult)
		return r.cfg, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("the registry did not answer before sealgate's deadline (%s) for this request", v.opts.Timeout)
	}
}
