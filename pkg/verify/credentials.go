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
)

// pullCredentials are where a pod's registry credentials come from: its imagePullSecrets, then
// those of its ServiceAccount, in its namespace.
type pullCredentials struct {
	namespace      string
	serviceAccount string
	pullSecrets    []string
}

// scope identifies the credentials for the cache and for shared verifications: a failure seen with
// one namespace's credentials (a 401, say) must never answer for another's.
func (c *pullCredentials) scope() string {
	if c == nil {
		return ""
	}
	return c.namespace + "\x00" + c.serviceAccount + "\x00" + strings.Join(c.pullSecrets, ",")
}

// podCredentials says where the pod's credentials come from, or nil when the verifier cannot read
// the cluster or the namespace is unknown (then only the configured keychain is used).
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

// keychain returns the credentials for one verification: the pod's image pull secrets, then its
// ServiceAccount's, then the configured keychain (Docker config, or anonymous). The Secrets are read
// on the first registry call that asks for credentials, once.
func (v *Verifier) keychain(c *pullCredentials) authn.Keychain {
	if c == nil {
		return v.opts.Keychain
	}
	return &podKeychain{v: v, creds: c}
}

type podKeychain struct {
	v     *Verifier
	creds *pullCredentials
	once  sync.Once
	auths []secretAuth // in order: pod's secrets, then the ServiceAccount's
}

type secretAuth struct {
	source string // "imagePullSecrets ns/name" or "ServiceAccount ns/sa secret name"
	hosts  map[string]authn.AuthConfig
}

func (k *podKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	// Resolve has no context: the reads get a short deadline of their own.
	k.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), k.v.opts.RegistryTimeout)
		defer cancel()
		k.auths = k.load(ctx)
	})
	host := normalizeRegistryHost(target.RegistryStr())
	for _, a := range k.auths {
		if cfg, ok := a.hosts[host]; ok {
			k.v.opts.Log.V(1).Info("registry credentials", "registry", target.RegistryStr(), "source", a.source)
			return authn.FromConfig(cfg), nil
		}
	}
	k.v.opts.Log.V(1).Info("registry credentials", "registry", target.RegistryStr(), "source", "sealgate's own (Docker config or anonymous)",
		"namespace", k.creds.namespace)
	return k.v.opts.Keychain.Resolve(target)
}

func (k *podKeychain) load(ctx context.Context) []secretAuth {
	c := k.creds
	var out []secretAuth
	add := func(secret, source string) {
		data, err := k.v.opts.Secrets.Secret(ctx, c.namespace, secret)
		if err != nil {
			// The kubelet would fail to pull with it as well; the next source may still serve.
			k.v.opts.Log.Info("cannot read an image pull secret", "namespace", c.namespace, "secret", secret, "error", err.Error())
			return
		}
		hosts, err := parseDockerSecret(data)
		if err != nil {
			k.v.opts.Log.Info("image pull secret is not a Docker config", "namespace", c.namespace, "secret", secret, "error", err.Error())
			return
		}
		out = append(out, secretAuth{source: source, hosts: hosts})
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
