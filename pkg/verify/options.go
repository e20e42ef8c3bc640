package verify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/pflag"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// Options configure a Verifier. The zero value of every field means its default.
type Options struct {
	// Timeout bounds the registry work of one request (one Target): every signature check and image
	// config read of all its images together; it stays below the webhook's 10 s timeout so that the
	// API server gets a reasoned answer, not a timeout. Default 8 s.
	Timeout time.Duration
	// RegistryTimeout bounds each HTTP call to a registry, body included. Default 3 s.
	RegistryTimeout time.Duration
	// CacheSize is how many verification results are kept. Default 10000.
	CacheSize int
	// ConfigCacheSize is how many image configs are kept (each holds a user and at most 32 KiB of
	// environment). Default 1000.
	ConfigCacheSize int
	// SuccessTTL is how long a successful verification is reused. Default 1 h.
	SuccessTTL time.Duration
	// FailureTTL is how long a failed verification (unsigned, untrusted, below threshold) is
	// reused. Default 30 s.
	FailureTTL time.Duration
	// ErrorTTL is how long a registry error is reused, so that a registry that is down is not asked
	// again by every admission. Default 5 s.
	ErrorTTL time.Duration
	// MaxSignatures bounds the signatures read per image, for each format (.sig layers, bundles).
	// Default 16.
	MaxSignatures int
	// MaxResponseBytes bounds each registry response. Default 1 MiB.
	MaxResponseBytes int64
	// InsecureRegistries are registry hosts (host or host:port, as in the image reference) that may
	// be reached over plain HTTP. Every other registry must use HTTPS with a verified certificate.
	InsecureRegistries []string
	// RootCAs verify registry certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Secrets reads Secrets, ConfigMaps and ServiceAccounts of the cluster (secretRef keys, trusted
	// roots, image pull secrets); nil outside a cluster, where attestors that need it fail closed.
	Secrets SecretReader
	// Keychain supplies registry credentials; nil means anonymous.
	Keychain authn.Keychain
	// Transport replaces the HTTP transport under the registry guard (tests).
	Transport http.RoundTripper
	// Log says which source of registry credentials was used (never the credentials); the zero
	// Logger discards.
	Log logr.Logger
	// Metrics records verifications, cache lookups and registry latency; nil records nothing.
	Metrics metrics.SignatureRecorder
	// Now is the clock of the cache; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 8 * time.Second
	}
	if o.RegistryTimeout <= 0 {
		o.RegistryTimeout = 3 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.ConfigCacheSize <= 0 {
		o.ConfigCacheSize = 1000
	}
	if o.SuccessTTL <= 0 {
		o.SuccessTTL = time.Hour
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = 30 * time.Second
	}
	if o.ErrorTTL <= 0 {
		o.ErrorTTL = 5 * time.Second
	}
	if o.MaxSignatures <= 0 {
		o.MaxSignatures = 16
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 1 << 20
	}
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain() // anonymous
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Flags are the command-line flags that configure verification, shared by `sealgate serve` and
// `sealgate check`.
type Flags struct {
	InsecureRegistries []string
	RegistryCAFile     string
	Timeout            time.Duration
	RegistryTimeout    time.Duration
	DockerConfig       bool
}

// AddFlags registers the flags on fs.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.InsecureRegistries, "insecure-registry", nil,
		"registry host[:port] that may be reached over plain HTTP to verify signatures (repeatable); every other registry must use HTTPS")
	fs.StringVar(&f.RegistryCAFile, "registry-ca-file", "", "PEM file of extra CA certificates trusted for registries, added to the system roots")
	fs.DurationVar(&f.Timeout, "signature-timeout", 8*time.Second, "deadline for the registry work of one object, signatures and image configs together (keep it below the webhook timeout)")
	fs.DurationVar(&f.RegistryTimeout, "registry-timeout", 3*time.Second, "deadline for each registry request (signatures, image configs)")
	fs.BoolVar(&f.DockerConfig, "registry-docker-config", true, "use registry credentials from the Docker config ($DOCKER_CONFIG or ~/.docker/config.json)")
}

// Validate checks the flags.
func (f *Flags) Validate() error {
	var errs []error
	for _, h := range f.InsecureRegistries {
		if h == "" || strings.ContainsAny(h, "/ ") {
			errs = append(errs, fmt.Errorf("--insecure-registry %q: want a registry host or host:port", h))
		}
	}
	if f.Timeout <= 0 || f.RegistryTimeout <= 0 {
		errs = append(errs, errors.New("--signature-timeout and --registry-timeout must be positive"))
	} else if f.RegistryTimeout > f.Timeout {
		errs = append(errs, errors.New("--registry-timeout must not exceed --signature-timeout"))
	}
	return errors.Join(errs...)
}

// Options turns the flags into verifier options, reading the CA file.
func (f *Flags) Options(rec metrics.SignatureRecorder) (Options, error) {
	o := Options{InsecureRegistries: slices.Clone(f.InsecureRegistries), Timeout: f.Timeout, RegistryTimeout: f.RegistryTimeout, Metrics: rec}
	for i, h := range o.InsecureRegistries {
		o.InsecureRegistries[i] = strings.ToLower(h)
	}
	if f.RegistryCAFile != "" {
		pem, err := os.ReadFile(f.RegistryCAFile)
		if err != nil {
			return Options{}, fmt.Errorf("--registry-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return Options{}, fmt.Errorf("--registry-ca-file %s: no PEM certificate found", f.RegistryCAFile)
		}
		o.RootCAs = pool
	}
	if f.DockerConfig {
		o.Keychain = authn.DefaultKeychain
	}
	return o, nil
}
