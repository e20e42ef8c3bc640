package rules

import (
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/secrets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// plaintextSecrets implements spec.containers.plaintextSecrets: mode Forbid flags credentials
// written in plain text into a container, where anyone who may read the pod (or its Deployment, or
// the audit log) reads them. The formats are pkg/secrets' (cloud access keys, private keys, tokens
// with a known prefix, JWTs) and the policy's own patterns.
//
// An env var is searched as "NAME=value", since the name is what marks some secrets
// (AWS_SECRET_ACCESS_KEY), without building that string when no format needs it, so that a
// passing pod costs no allocation; an arg or command entry is searched as it is. A message names the container, the
// variable or the entry, the kind of secret and its fingerprint, never the value nor any part of
// it.
//
// Reads: spec.{initContainers,containers,ephemeralContainers}[*].{env[*].name, env[*].value, command, args}.
// Allowed: no secret found, or an env var listed in allowedEnv.
var plaintextSecrets = register(Def[plaintextSecretsConfig]{
	ID:      "containers.plaintextSecrets",
	Name:    "Containers hold no plain-text secrets",
	Reads:   []string{"env"},
	Compile: compilePlaintextSecrets,
	NoCEL: "a finding names the secret by its SHA-256 fingerprint, and some formats are confirmed beyond their regex " +
		"(a JSON Web Token's header is decoded, an AWS secret key must mix cases), which CEL cannot do; the regexes alone " +
		"would deny configuration the webhook admits (base64 JSON, commit hashes), and twenty-odd regexes over every env " +
		"value, command and arg of every container can pass the API server's CEL cost limit, which denies the pod",
	Check: func(c *plaintextSecretsConfig, t *Target, out *Findings) {
		for i := range t.Containers() {
			ct := &t.Containers()[i]
			for j := range ct.Env {
				e := &ct.Env[j]
				m, ok := c.findEnv(e.Name, e.Value)
				if !ok {
					continue
				}
				fp := m.EnvFingerprint(e.Name, e.Value)
				env := "env[" + strconv.Itoa(j) + "]"
				if m.End <= len(e.Name) {
					// The secret is in the name: quoting the name would print it.
					out.Add(Finding{Path: ct.Path(env, "name"), Container: ct.Name,
						Message: found(containerOwner(ct)+" "+env+" has a name that holds "+secretText(m, fp),
							"rename the variable")})
					continue
				}
				out.Add(Finding{Path: ct.Path(env, "value"), Container: ct.Name,
					Message: found(containerOwner(ct)+" env "+quote(e.Name)+" holds "+secretText(m, fp),
						"store the value in a Secret and set the variable with valueFrom.secretKeyRef")})
			}
			c.checkList(ct, "command", ct.Command, out)
			c.checkList(ct, "args", ct.Args, out)
		}
	},
})

// findEnv searches an environment variable as this rule does: as "NAME=value"
// (secrets.Detector.FindEnv), unless allowedEnv lists the name. The image-config rule searches an
// image's env with it (plaintextSecretsOf), so that both rules agree on what a secret is.
func (c *plaintextSecretsConfig) findEnv(name, value string) (secrets.Match, bool) {
	if value == "" || c.allowed(name) {
		return secrets.Match{}, false
	}
	return c.detector.FindEnv(name, value)
}

// plaintextSecretsOf returns the compiled containers.plaintextSecrets of a policy spec, nil when the
// policy does not forbid plain-text secrets or the settings are invalid (this rule's Compile reports
// the errors; another rule's Compile calling this must not report them again).
func plaintextSecretsOf(s *v1alpha1.PolicySpec) *plaintextSecretsConfig {
	c, errs := compilePlaintextSecrets(s, field.NewPath("spec"))
	if len(errs) > 0 {
		return nil
	}
	return c
}

// checkList flags the entries of a container's command or args that hold a secret.
func (c *plaintextSecretsConfig) checkList(ct *Container, list string, entries []string, out *Findings) {
	for j, a := range entries {
		m, ok := c.detector.Find(a)
		if !ok {
			continue
		}
		entry := list + "[" + strconv.Itoa(j) + "]"
		out.Add(Finding{Path: ct.Path(entry), Container: ct.Name,
			Message: found(containerOwner(ct)+" "+entry+" holds "+secretText(m, m.Fingerprint(a)),
				"set an environment variable from a Secret with valueFrom.secretKeyRef and write $(NAME) in "+list+" instead")})
	}
}

// secretText names what was found without showing it: `a plain-text GitHub token
// (sha256:0123456789ab)`, or for a policy's own pattern `a plain-text secret matching pattern
// "Acme deploy key" (sha256:…)`.
func secretText(m secrets.Match, fingerprint string) string {
	kind := m.Kind
	if m.Added {
		kind = "secret matching pattern " + quote(m.Kind)
	}
	return "a plain-text " + kind + " (" + fingerprint + ")"
}

// plaintextSecretsConfig is the compiled spec.containers.plaintextSecrets.
type plaintextSecretsConfig struct {
	detector *secrets.Detector
	// allowedNames are allowedEnv's exact names; allowedGlobs its entries with '*' or '?'.
	allowedNames map[string]bool
	allowedGlobs []policy.Glob
}

// Bounds of spec.containers.plaintextSecrets; the CRD schema holds the API server to the same.
const (
	maxAllowedEnv      = 256
	maxAllowedEnvBytes = 256
	maxSecretPatterns  = 32
	maxPatternName     = 64
)

func compilePlaintextSecrets(s *v1alpha1.PolicySpec, spec *field.Path) (*plaintextSecretsConfig, field.ErrorList) {
	if s.Containers == nil || s.Containers.PlaintextSecrets == nil {
		return nil, nil
	}
	ps := s.Containers.PlaintextSecrets
	path := spec.Child("containers", "plaintextSecrets")
	var errs field.ErrorList
	c := &plaintextSecretsConfig{allowedNames: map[string]bool{}}
	if len(ps.AllowedEnv) > maxAllowedEnv {
		errs = append(errs, field.TooMany(path.Child("allowedEnv"), len(ps.AllowedEnv), maxAllowedEnv))
	}
	for i, n := range ps.AllowedEnv {
		p := path.Child("allowedEnv").Index(i)
		switch {
		case n == "":
			errs = append(errs, field.Required(p, "name a variable, or a pattern such as PUBLIC_*"))
		case len(n) > maxAllowedEnvBytes:
			errs = append(errs, field.TooLong(p, "", maxAllowedEnvBytes))
		case strings.ContainsAny(n, "*?"):
			c.allowedGlobs = append(c.allowedGlobs, policy.Glob(n))
		default:
			c.allowedNames[n] = true
		}
	}
	if len(ps.Patterns) > maxSecretPatterns {
		errs = append(errs, field.TooMany(path.Child("patterns"), len(ps.Patterns), maxSecretPatterns))
	}
	extra := make([]secrets.Pattern, len(ps.Patterns))
	names := map[string]bool{}
	for i, p := range ps.Patterns {
		pp := path.Child("patterns").Index(i)
		switch {
		case strings.TrimSpace(p.Name) == "":
			errs = append(errs, field.Required(pp.Child("name"), "name the format; messages use the name"))
		case len(p.Name) > maxPatternName:
			errs = append(errs, field.TooLong(pp.Child("name"), "", maxPatternName))
		case names[p.Name]:
			errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
		}
		names[p.Name] = true
		if err := secrets.ValidateRegex(p.Regex); err != nil {
			errs = append(errs, field.Invalid(pp.Child("regex"), Truncate(p.Regex, MaxValueBytes), err.Error()))
		}
		extra[i] = secrets.Pattern{Name: p.Name, Regex: p.Regex}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	d, err := secrets.Compile(extra)
	if err != nil {
		// Every pattern was validated above.
		return nil, field.ErrorList{field.InternalError(path.Child("patterns"), err)}
	}
	if ps.Mode != v1alpha1.Forbidden {
		return nil, nil
	}
	c.detector = d
	return c, nil
}

// allowed reports whether allowedEnv lists the variable.
func (c *plaintextSecretsConfig) allowed(name string) bool {
	if c.allowedNames[name] {
		return true
	}
	for _, g := range c.allowedGlobs {
		if g.Match(name) {
			return true
		}
	}
	return false
}
