package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// pullCredentials are where a pod's registry credentials come from: its imagePullSecrets, then
// those of its ServiceAccount, in its namespace; then the registryCredentials Secrets of the
// signature rules being verified.
type pullCredentials struct {
	namespace      string // "" when the pod's own credentials are not read
	serviceAccount string
	pullSecrets    []string
	// ruleSecrets are the registryCredentials Secrets of the signature rules, in rule order.
	ruleSecrets []ruleSecret
}

// ruleSecret is one signature rule's registryCredentials Secret.
type ruleSecret struct {
	rule int // index in spec.signatures
	ref  v1alpha1.SecretRef
}

// scope identifies the credentials for the cache and for shared verifications: a failure seen with
// one namespace's credentials (a 401, say) must never answer for another's, nor one rule Secret's
// for another's.
func (c *pullCredentials) scope() string {
	if c == nil {
		return ""
	}
	s := c.namespace + "\x00" + c.serviceAccount + "\x00" + strings.Join(c.pullSecrets, ",")
	for _, r := range c.ruleSecrets {
		s += "\x00" + r.ref.Namespace + "/" + r.ref.Name
	}
	return s
}

// forRules returns c with the registryCredentials Secrets of rules added, or c itself when they
// name none. c may be nil (the pod's own credentials are not read).
func (c *pullCredentials) forRules(rules ...*policy.Signature) *pullCredentials {
	var add []ruleSecret
	for _, s := range rules {
		if rc := s.Rule.RegistryCredentials; rc != nil && !slices.ContainsFunc(add, func(r ruleSecret) bool { return r.ref == rc.SecretRef }) {
			add = append(add, ruleSecret{rule: s.Index, ref: rc.SecretRef})
		}
	}
	if len(add) == 0 {
		return c
	}
	out := &pullCredentials{}
	if c != nil {
		*out = *c
	}
	out.ruleSecrets = append(slices.Clip(out.ruleSecrets), add...)
	return out
}

// podCredentials says where the pod's credentials come from, or nil when the verifier cannot read
// the cluster or the namespace is unknown (then only the configured keychain is used, after any
// rule's registryCredentials).
func (v *Verifier) podCredentials(spec *corev1.PodSpec, ns string) *pullCredentials {
	if v.opts.Secrets == nil {
		return nil
	}
	if ns == "" {
		return nil
	}
	c := &pullCredentials{namespace: ns, serviceAccount: spec.ServiceAccountName}
	if c.serviceAccount == "" {
		c.serviceAccount = "default"
	}
	for _, s := range spec.ImagePullSecrets {
		if s.Name != "" && !slices.Contains(c.pullSecrets, s.Name) {
			c.pullSecrets = append(c.pullSecrets, s.Name)
		}
	}
	return c
}

// podAuths are the pod's own credentials (its imagePullSecrets, then its ServiceAccount's), read
// once per admission request and shared by the keychains of its signature rules.
type podAuths struct {
	once  sync.Once
	auths []secretAuth
}

// keychain returns the credentials for one verification: the pod's image pull secrets, then its
// ServiceAccount's, then the rules' registryCredentials Secrets, then the configured keychain
// (Docker config, or anonymous). The Secrets are read on the first registry call that asks for
// credentials, once.
func (v *Verifier) keychain(c *pullCredentials, pod *podAuths) authn.Keychain {
	if c == nil {
		return v.opts.Keychain
	}
	if pod == nil {
		pod = &podAuths{}
	}
	return &podKeychain{v: v, creds: c, pod: pod}
}

type podKeychain struct {
	v     *Verifier
	creds *pullCredentials
	pod   *podAuths
	once  sync.Once
	rules []secretAuth // the rules' registryCredentials Secrets, in order
}

type secretAuth struct {
	source string // "imagePullSecrets ns/name", "ServiceAccount ns/sa secret name" or "spec.signatures[i].registryCredentials Secret ns/name"
	hosts  map[string]authn.AuthConfig
}

func (k *podKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	// Resolve has no context: the reads get a short deadline of their own.
	if k.creds.namespace != "" {
		k.pod.once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), k.v.opts.RegistryTimeout)
			defer cancel()
			k.pod.auths = k.loadPod(ctx)
		})
	}
	k.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), k.v.opts.RegistryTimeout)
		defer cancel()
		k.rules = k.loadRules(ctx)
	})
	host := normalizeRegistryHost(target.RegistryStr())
	for _, auths := range [][]secretAuth{k.pod.auths, k.rules} {
		for _, a := range auths {
			if cfg, ok := a.hosts[host]; ok {
				k.v.opts.Log.V(1).Info("registry credentials", "registry", target.RegistryStr(), "source", a.source)
				return authn.FromConfig(cfg), nil
			}
		}
	}
	k.v.opts.Log.V(1).Info("registry credentials", "registry", target.RegistryStr(), "source", "sealgate's own (Docker config or anonymous)",
		"namespace", k.creds.namespace)
	return k.v.opts.Keychain.Resolve(target)
}

// readDockerSecret reads and parses one Docker config Secret; a failure is logged, never fatal:
// the next source may still serve, and a registry that needs credentials answers 401 without them.
func (k *podKeychain) readDockerSecret(ctx context.Context, ns, secret, source string) (secretAuth, bool) {
	data, err := k.v.opts.Secrets.Secret(ctx, ns, secret)
	if err != nil {
		k.v.opts.Log.Info("cannot read a registry credentials Secret", "source", source, "error", err.Error())
		return secretAuth{}, false
	}
	hosts, err := parseDockerSecret(data)
	if err != nil {
		k.v.opts.Log.Info("registry credentials Secret is not a Docker config", "source", source, "error", err.Error())
		return secretAuth{}, false
	}
	return secretAuth{source: source, hosts: hosts}, true
}

func (k *podKeychain) loadPod(ctx context.Context) []secretAuth {
	c := k.creds
	var out []secretAuth
	add := func(secret, source string) {
		if a, ok := k.readDockerSecret(ctx, c.namespace, secret, source); ok {
			out = append(out, a)
		}
	}
	for _, s := range c.pullSecrets {
		add(s, fmt.Sprintf("imagePullSecrets %s/%s", c.namespace, s))
	}
	names, err := k.v.opts.Secrets.ServiceAccountPullSecrets(ctx, c.namespace, c.serviceAccount)
	if err != nil && !errors.Is(err, ErrNotFound) {
		k.v.opts.Log.Info("cannot read the ServiceAccount's image pull secrets", "namespace", c.namespace, "serviceAccount", c.serviceAccount, "error", err.Error())
	}
	for _, s := range names {
		if !slices.Contains(c.pullSecrets, s) {
			add(s, fmt.Sprintf("ServiceAccount %s/%s imagePullSecrets %s", c.namespace, c.serviceAccount, s))
		}
	}
	return out
}

func (k *podKeychain) loadRules(ctx context.Context) []secretAuth {
	var out []secretAuth
	for _, r := range k.creds.ruleSecrets {
		source := fmt.Sprintf("spec.signatures[%d].registryCredentials Secret %s/%s", r.rule, r.ref.Namespace, r.ref.Name)
		if k.v.opts.Secrets == nil {
			// sealgate check: no cluster to read it from. Not fatal: without the credentials a
			// registry that needs them answers 401, which fails closed anyway.
			k.v.opts.Log.Info("registry credentials Secret cannot be read without a cluster; using sealgate's own Docker config", "source", source)
			continue
		}
		if a, ok := k.readDockerSecret(ctx, r.ref.Namespace, r.ref.Name, source); ok {
			out = append(out, a)
		}
	}
	return out
}

// parseDockerSecret reads a kubernetes.io/dockerconfigjson Secret (.dockerconfigjson) or a legacy
// kubernetes.io/dockercfg one (.dockercfg), keyed by normalized registry host.
func parseDockerSecret(data map[string][]byte) (map[string]authn.AuthConfig, error) {
	var entries map[string]dockerAuth
	switch {
	case len(data[corev1.DockerConfigJsonKey]) > 0:
		var cfg struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if err := json.Unmarshal(data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", corev1.DockerConfigJsonKey, err)
		}
		entries = cfg.Auths
	case len(data[corev1.DockerConfigKey]) > 0:
		if err := json.Unmarshal(data[corev1.DockerConfigKey], &entries); err != nil {
			return nil, fmt.Errorf("%s: %w", corev1.DockerConfigKey, err)
		}
	default:
		return nil, fmt.Errorf("no %s or %s key", corev1.DockerConfigJsonKey, corev1.DockerConfigKey)
	}
	out := make(map[string]authn.AuthConfig, len(entries))
	for k, e := range entries {
		cfg := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" && cfg.Username == "" {
			if b, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
				cfg.Username, cfg.Password, _ = strings.Cut(string(b), ":")
			}
		}
		out[normalizeRegistryHost(k)] = cfg
	}
	return out, nil
}

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// normalizeRegistryHost turns a Docker config key ("https://index.docker.io/v1/", "ghcr.io",
// "registry:5000/path") into the registry host as image references name it.
func normalizeRegistryHost(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(k), "https://"), "http://")
	k, _, _ = strings.Cut(k, "/")
	switch k {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return k
}
