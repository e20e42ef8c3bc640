package rules

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/secrets"
)

// imageConfigSecrets implements spec.imageConfig.plaintextSecrets: Forbid denies a container whose
// image's config sets an environment variable holding a plain-text credential. Such a secret was
// baked in at build time: anyone who can pull the image reads it, and the pod spec never shows it,
// so containers.plaintextSecrets cannot see it. Entries are searched as "NAME=value", with
// containers.plaintextSecrets' formats, allowedEnv and patterns when the policy sets them (whatever
// its mode), else pkg/secrets' formats, so that both rules agree on what a secret is. The message
// names the variable, the kind of secret and its fingerprint, never the value.
//
// Every platform config read is searched; an image config that cannot be read fails closed, as for
// imageConfig.runAsRoot. Images the policy's allow or deny list keeps out are never read, nor image
// volumes (they are not run).
//
// Reads: every container image's config (env), through Target.ImageConfig.
// Allowed: no entry of the config's env holds a secret.
var imageConfigSecrets = register(Def[imageConfigSecretsConfig]{
	ID:   "imageConfig.plaintextSecrets",
	Name: "Image configs hold no plain-text secrets",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*imageConfigSecretsConfig, field.ErrorList) {
		if s.ImageConfig == nil || s.ImageConfig.PlaintextSecrets != v1alpha1.Forbidden {
			return nil, nil
		}
		c := &imageConfigSecretsConfig{detector: secrets.Default()}
		if s.Containers != nil && s.Containers.PlaintextSecrets != nil {
			// The settings apply whatever containers.plaintextSecrets' mode. Its own rule reports
			// invalid settings; here they only fall back to the defaults.
			ps := *s.Containers.PlaintextSecrets
			ps.Mode = v1alpha1.Forbidden
			only := &v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{PlaintextSecrets: &ps}}
			if pc, errs := compilePlaintextSecrets(only, field.NewPath("spec")); len(errs) == 0 {
				c.settings = pc
			}
		}
		return c, nil
	},
	Check: func(c *imageConfigSecretsConfig, t *Target, out *Findings) {
		images := t.Images()
		for i := range images {
			im := &images[i]
			if im.Container == nil || im.Err != nil || (t.Policy != nil && !AllowedImage(t.Policy, im)) {
				continue
			}
			c.check(t, im, out)
		}
	},
	NoCEL: "it reads the image configuration from the registry, which CEL cannot fetch",
})

// imageConfigSecretsConfig is the compiled spec.imageConfig.plaintextSecrets.
type imageConfigSecretsConfig struct {
	// settings are containers.plaintextSecrets' allowedEnv and patterns; nil for the defaults.
	settings *plaintextSecretsConfig
	detector *secrets.Detector
}

func (c *imageConfigSecretsConfig) find(name, value string) (secrets.Match, bool) {
	if c.settings != nil {
		return c.settings.findEnv(name, value)
	}
	if value == "" {
		return secrets.Match{}, false
	}
	return c.detector.FindEnv(name, value)
}

func (c *imageConfigSecretsConfig) check(t *Target, im *Image, out *Findings) {
	ct := im.Container
	cfg, err := t.ImageConfig(im)
	switch {
	case errors.Is(err, ErrImageConfigSkipped):
		return
	case errors.Is(err, ErrNoImageConfigReader):
		out.Add(Finding{Path: im.Path(), Container: ct.Name, Message: found(
			containerOwner(ct)+" uses image "+quote(im.Raw)+", whose config this sealgate has no registry client to read, so it fails closed",
			"give sealgate registry access (`sealgate check --skip-image-config` lints without it)")})
		return
	case err != nil:
		out.Add(Finding{Path: im.Path(), Container: ct.Name, Message: found(
			containerOwner(ct)+" uses image "+quote(im.Raw)+", whose config could not be read ("+err.Error()+"), so sealgate fails closed",
			"retry when the registry answers")})
		return
	}
	for j := range cfg.Configs {
		pc := &cfg.Configs[j]
		for _, e := range pc.Env {
			name, value, _ := cutEnv(e)
			m, ok := c.find(name, value)
			if !ok {
				continue
			}
			what := containerOwner(ct) + " uses image " + quote(im.Raw) + ", whose config"
			if len(pc.Platforms) > 0 {
				what += " for " + quoteEntries(pc.Platforms)
			}
			fp := m.EnvFingerprint(name, value)
			if m.End <= len(name) {
				// The secret is in the name: quoting the name would print it.
				what += " sets an env variable whose name holds " + secretText(m, fp)
			} else {
				what += " sets env " + quote(name) + " to " + secretText(m, fp)
			}
			out.Add(Finding{Path: im.Path(), Container: ct.Name, Message: found(what,
				"rebuild the image without it (pass the value at run time from a Secret with valueFrom.secretKeyRef) and rotate the credential: every puller of the image has it")})
			return // one finding per image: the first secret is reason enough to rebuild
		}
	}
}

// cutEnv splits a config env entry "NAME=value"; an entry without "=" is a name with no value.
func cutEnv(e string) (name, value string, ok bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}
