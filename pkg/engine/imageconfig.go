package engine

import (
	"context"

	"github.com/sealgate/sealgate/pkg/rules"
)

// ImageConfigs reads image configs (user, environment) for the rules that judge them. It is never
// asked about an image a rule does not need, so a pod that forces non-root and has no env rule
// costs no registry call. pkg/verify implements it with the registry client, credentials, cache and
// limits of signature verification.
type ImageConfigs interface {
	// Config returns the config of im, an image of t. An error says why it could not be read, in
	// words a denial can carry; the rule fails closed on it.
	Config(ctx context.Context, t *rules.Target, im *rules.Image) (*rules.ImageConfig, error)
}

// bindImageConfigs gives the request's target its way to read image configs: the engine's reader,
// or an answer that says they are skipped. Without a reader (and not skipped) the target answers
// rules.ErrNoImageConfigReader, which the rule reports: it fails closed, as signature rules do
// without a verifier.
func (e *Engine) bindImageConfigs(ctx context.Context, t *rules.Target) {
	switch {
	case e.SkipImageConfig:
		t.SetImageConfigs(func(*rules.Image) (*rules.ImageConfig, error) { return nil, rules.ErrImageConfigSkipped })
	case e.ImageConfigs != nil:
		t.SetImageConfigs(func(im *rules.Image) (*rules.ImageConfig, error) { return e.ImageConfigs.Config(ctx, t, im) })
	}
}
