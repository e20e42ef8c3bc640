package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/rules"
)

// methodRegistry is an in-process TLS registry that counts requests by method and path kind
// ("HEAD manifests", "GET blobs").
type methodRegistry struct {
	srv  *httptest.Server
	host string
	mu   sync.Mutex
	n    map[string]int
}

func newMethodRegistry(t *testing.T) *methodRegistry {
	t.Helper()
	r := &methodRegistry{n: map[string]int{}}
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		kind := "ping"
		for _, k := range []string{"manifests", "blobs", "referrers"} {
			if strings.Contains(req.URL.Path, "/"+k+"/") {
				kind = k
			}
		}
		r.mu.Lock()
		r.n[req.Method+" "+kind]++
		r.mu.Unlock()
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "https://")
	return r
}

// counts returns the requests so far and resets them.
func (r *methodRegistry) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.n
	r.n = map[string]int{}
	return out
}

func (r *methodRegistry) verifier(o Options) *Verifier {
	o.RootCAs = r.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return New(o)
}

// configImage is an image whose config sets user and env, for platform p (nil: none).
func configImage(t *testing.T, user string, env []string, p *v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.User, cf.Config.Env = user, env
	if p != nil {
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (r *methodRegistry) write(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	tag, err := name.NewTag(r.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithTransport(r.srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	r.counts()
	return d.String()
}

func (r *methodRegistry) writeIndex(t *testing.T, ref string, idx v1.ImageIndex) string {
	t.Helper()
	tag, err := name.NewTag(r.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithTransport(r.srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	r.counts()
	return d.String()
}

// imageOf returns the target's first image.
func imageOf(t *rules.Target) *rules.Image { return &t.Images()[0] }

func TestConfigReadsUserAndEnvOnceByDigest(t *testing.T) {
	reg := newMethodRegistry(t)
	d := reg.write(t, "app:1", configImage(t, "1000:1000", []string{"PATH=/bin", "MODE=prod"}, nil))
	v := reg.verifier(Options{})

	tg := target(reg.host + "/app@" + d)
	cfg, err := v.Config(t.Context(), tg, imageOf(tg))
	if err != nil {
		t.Fatal(err)
	}
	want := &rules.ImageConfig{Digest: d, Configs: []rules.PlatformConfig{{User: "1000:1000", Env: []string{"PATH=/bin", "MODE=prod"}}}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := reg.counts(); got["GET manifests"] != 1 || got["GET blobs"] != 1 || got["HEAD manifests"] != 0 {
		t.Errorf("requests of a cold read by digest = %v, want one manifest GET and one blob GET", got)
	}
	// Another request (another namespace, another policy) for the same digest: from the cache.
	tg = target(reg.host + "/app@" + d)
	tg.Namespace = "other"
	if _, err := v.Config(t.Context(), tg, imageOf(tg)); err != nil {
		t.Fatal(err)
	}
	if got := reg.counts(); len(got) != 0 {
		t.Errorf("a cached config cost requests: %v", got)
	}
	// By tag: one HEAD to learn the digest, then the cache.
	tg = target(reg.host + "/app:1")
	if _, err := v.Config(t.Context(), tg, imageOf(tg)); err != nil {
		t.Fatal(err)
	}
	if got := reg.counts(); got["HEAD manifests"] != 1 || got["GET manifests"]+got["GET blobs"] != 0 {
		t.Errorf("requests of a tag whose digest is cached = %v, want one HEAD", got)
	}
}

// TestConfigSharesTagResolutionWithSignatures: an image both signature-checked and config-checked
// in one request resolves its tag once.
func TestConfigSharesTagResolutionWithSignatures(t *testing.T) {
	reg := newMethodRegistry(t)
	reg.write(t, "app:1", configImage(t, "", nil, nil))
	v := reg.verifier(Options{})
	p := compile(t, reg.host, v1alpha1.ModeWarn, reg.host+"/**", v1alpha1.Attestor{Name: "k", PublicKey: testPublicKey(t)})

	tg := target(reg.host + "/app:1")
	if _, err := v.Config(t.Context(), tg, imageOf(tg)); err != nil {
		t.Fatal(err)
	}
	if fs := v.Verify(t.Context(), p, tg); len(fs) != 1 || !strings.Contains(fs[0].Message, "has no cosign signature") {
		t.Fatalf("findings = %+v", fs)
	}
	if got := reg.counts(); got["HEAD manifests"] != 1 {
		t.Errorf("HEAD requests = %d in %v, want 1 for the config read and the signature check together", got["HEAD manifests"], got)
	}
	// A new request resolves again: a tag may have moved.
	tg = target(reg.host + "/app:1")
	if _, err := v.Config(t.Context(), tg, imageOf(tg)); err != nil {
		t.Fatal(err)
	}
	if got := reg.counts(); got["HEAD manifests"] != 1 {
		t.Errorf("HEAD requests of a new request = %v, want 1", got)
	}
}

func TestConfigMultiPlatform(t *testing.T) {
	reg := newMethodRegistry(t)
	amd := &v1.Platform{OS: "linux", Architecture: "amd64"}
	arm := &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	s390 := &v1.Platform{OS: "linux", Architecture: "s390x"}
	win := &v1.Platform{OS: "windows", Architecture: "amd64"}
	att := &v1.Platform{OS: "unknown", Architecture: "unknown"}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: configImage(t, "1000", []string{"A=1"}, amd), Descriptor: v1.Descriptor{Platform: amd}},
		mutate.IndexAddendum{Add: configImage(t, "root", []string{"A=1"}, arm), Descriptor: v1.Descriptor{Platform: arm}},
		mutate.IndexAddendum{Add: configImage(t, "1000", []string{"A=1"}, s390), Descriptor: v1.Descriptor{Platform: s390}},
		mutate.IndexAddendum{Add: configImage(t, "ContainerUser", nil, win), Descriptor: v1.Descriptor{Platform: win}},
		mutate.IndexAddendum{Add: configImage(t, "", nil, nil), Descriptor: v1.Descriptor{Platform: att}},
	)
	d := reg.writeIndex(t, "multi:1", idx)
	v := reg.verifier(Options{})

	tg := target(reg.host + "/multi@" + d)
	cfg, err := v.Config(t.Context(), tg, imageOf(tg))
	if err != nil {
		t.Fatal(err)
	}
	want := &rules.ImageConfig{Digest: d, Configs: []rules.PlatformConfig{
		{Platforms: []string{"linux/amd64", "linux/s390x"}, User: "1000", Env: []string{"A=1"}},
		{Platforms: []string{"linux/arm64/v8"}, User: "root", Env: []string{"A=1"}},
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("linux pod: configs (-want +got):\n%s", diff)
	}
	if got := reg.counts(); got["GET manifests"] != 4 || got["GET blobs"] != 3 {
		t.Errorf("requests = %v, want the index and 3 linux manifests, and 3 config blobs", got)
	}

	tg = target(reg.host + "/multi@" + d)
	tg.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	cfg, err = v.Config(t.Context(), tg, imageOf(tg))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Configs) != 1 || cfg.Configs[0].User != "ContainerUser" || cfg.Configs[0].Platforms[0] != "windows/amd64" {
		t.Errorf("windows pod: configs = %+v, want the windows platform only", cfg.Configs)
	}

	tg = target(reg.host + "/multi@" + d)
	tg.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "freebsd"}
	_, err = v.Config(t.Context(), tg, imageOf(tg))
	if err == nil || !errors.Is(err, errNotImage) || !strings.Contains(err.Error(), `lists no such platform (it lists linux/amd64, linux/arm64/v8, linux/s390x, windows/amd64, unknown/unknown)`) {
		t.Errorf("freebsd pod: err = %v", err)
	}
}

func TestConfigBounds(t *testing.T) {
	reg := newMethodRegistry(t)
	v := reg.verifier(Options{MaxResponseBytes: 64 << 10})

	t.Run("config blob over the size limit", func(t *testing.T) {
		d := reg.write(t, "big:1", configImage(t, "0", []string{"X=" + strings.Repeat("x", 70<<10)}, nil))
		tg := target(reg.host + "/big@" + d)
		_, err := v.Config(t.Context(), tg, imageOf(tg))
		if !errors.Is(err, errTooLarge) || !strings.Contains(err.Error(), "over sealgate's limit of 65536") {
			t.Fatalf("err = %v, want the size limit", err)
		}
		if got := reg.counts(); got["GET blobs"] != 0 {
			t.Errorf("the oversized blob was fetched: %v", got)
		}
	})
	t.Run("environment past its bound is counted, not kept", func(t *testing.T) {
		var env []string
		for i := range maxConfigEnv + 10 {
			env = append(env, fmt.Sprintf("V%d=1", i))
		}
		d := reg.write(t, "env:1", configImage(t, "", env, nil))
		tg := target(reg.host + "/env@" + d)
		cfg, err := v.Config(t.Context(), tg, imageOf(tg))
		if err != nil {
			t.Fatal(err)
		}
		if c := cfg.Configs[0]; len(c.Env) != maxConfigEnv || c.EnvOmitted != 10 {
			t.Errorf("kept %d, omitted %d; want %d and 10", len(c.Env), c.EnvOmitted, maxConfigEnv)
		}
	})
	t.Run("not a container image", func(t *testing.T) {
		img := mutate.ConfigMediaType(configImage(t, "", nil, nil), types.MediaType("application/vnd.cncf.helm.config.v1+json"))
		d := reg.write(t, "chart:1", img)
		tg := target(reg.host + "/chart@" + d)
		_, err := v.Config(t.Context(), tg, imageOf(tg))
		if !errors.Is(err, errNotImage) || !strings.Contains(err.Error(), "application/vnd.cncf.helm.config.v1+json") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestConfigRegistryFailures: a registry that is down or slow gives a reason within the request's
// deadline, and a failure is cached briefly and per credential scope.
func TestConfigRegistryFailures(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		reg := newMethodRegistry(t)
		d := reg.write(t, "app:1", configImage(t, "", nil, nil))
		v := reg.verifier(Options{})
		reg.srv.Close()
		tg := target(reg.host + "/app@" + d)
		_, err := v.Config(t.Context(), tg, imageOf(tg))
		if err == nil || !strings.Contains(err.Error(), "reading the manifest") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("err = %v, want the refused connection", err)
		}
	})
	t.Run("holds its answer", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		host := strings.TrimPrefix(srv.URL, "https://")
		v := New(Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
			RegistryTimeout: 50 * time.Millisecond, Timeout: 200 * time.Millisecond})
		tg := target(host + "/app:1")
		_, err := v.Config(t.Context(), tg, imageOf(tg))
		if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") {
			t.Fatalf("err = %v, want the registry's deadline", err)
		}
	})
}

func testPublicKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pemKey(t, &k.PublicKey)
}
