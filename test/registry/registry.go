// Package registry serves a real OCI registry (go-containerregistry's) over TLS on 127.0.0.1, counts
// the requests it answers, pushes random images to it, and runs the real cosign and crane CLIs
// against it with its certificate trusted. The signatures test tier and the signature benchmark
// (hack/benchsig) share it, so that both exercise the same registry and the same signing steps.
package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ToolTimeout bounds one cosign or crane run; none of them needs the network beyond loopback.
const ToolTimeout = 60 * time.Second

// Server is an OCI registry on 127.0.0.1 over TLS.
type Server struct {
	Srv    *httptest.Server
	Host   string // 127.0.0.1:port
	CAFile string // the server's certificate in PEM, for cosign and crane (SSL_CERT_FILE)

	requests, conns atomic.Int64
}

// Start serves a registry with the OCI referrers API served or not (without it, cosign attaches
// bundles to the "sha256-<hex>" tag of the referrers tag schema). wrap, when not nil, wraps the
// registry's handler (faults, authentication); requests are counted before wrap sees them. The
// certificate is written to dir.
func Start(dir string, referrers bool, wrap func(http.Handler) http.Handler) (*Server, error) {
	s := &Server{}
	var h http.Handler = ggcr.New(ggcr.WithReferrersSupport(referrers), ggcr.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	s.Srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, req)
	}))
	s.Srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	// HTTP/2 as well as HTTP/1.1, as the public registries serve: clients that read several things at
	// once share one connection instead of opening one each.
	s.Srv.EnableHTTP2 = true
	s.Srv.StartTLS()
	s.Host = strings.TrimPrefix(s.Srv.URL, "https://")
	s.CAFile = filepath.Join(dir, "registry-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Srv.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, ca, 0o600); err != nil {
		s.Srv.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.Srv.Close() }

// Requests is the number of HTTP requests the registry has received since it started.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Connections is the number of connections (each a TLS handshake) the registry has accepted since
// it started.
func (s *Server) Connections() int64 { return s.conns.Load() }

// Transport trusts the server's certificate.
func (s *Server) Transport() http.RoundTripper { return s.Srv.Client().Transport }

// RootCAs holds the server's certificate.
func (s *Server) RootCAs() *x509.CertPool {
	return s.Srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

// Push writes a small random image to repo:tag and returns its digest.
func (s *Server) Push(repo, tag string) (string, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(s.Host + "/" + repo + ":" + tag)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithTransport(s.Transport())); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Ref returns host/repo@digest.
func (s *Server) Ref(repo, digest string) string { return s.Host + "/" + repo + "@" + digest }

// Command prepares the tool at path (cosign or crane) with the registry's certificate trusted, no
// password on keys, and dir as its home and working directory, so nothing outside dir is read or
// written.
func (s *Server) Command(ctx context.Context, path, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, ".sigstore"),
		"SSL_CERT_FILE=" + s.CAFile, "COSIGN_PASSWORD=", "COSIGN_YES=true"}
	return cmd
}

// Run runs Command within ToolTimeout and returns its trimmed standard output.
func (s *Server) Run(ctx context.Context, path, dir string, args ...string) (string, error) {
	return s.run(ctx, ToolTimeout, path, dir, args...)
}

func (s *Server) run(ctx context.Context, timeout time.Duration, path, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := s.Command(ctx, path, dir, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\nstdout: %s\nstderr: %s", filepath.Base(path), strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Key is a cosign key pair.
type Key struct {
	Priv string // path of the private key (encrypted with an empty password)
	Pub  string // PEM public key
}

// NewKey generates a key pair in dir with `cosign generate-key-pair`.
func (s *Server) NewKey(ctx context.Context, cosign, dir, prefix string) (Key, error) {
	if _, err := s.Run(ctx, cosign, dir, "generate-key-pair", "--output-key-prefix", prefix); err != nil {
		return Key{}, err
	}
	pub, err := os.ReadFile(filepath.Join(dir, prefix+".pub"))
	if err != nil {
		return Key{}, err
	}
	return Key{Priv: filepath.Join(dir, prefix+".key"), Pub: string(pub)}, nil
}

// Format is how cosign stores a signature.
type Format int

const (
	Bundle  Format = iota // cosign v3's default: a Sigstore bundle attached as an OCI referrer
	Classic               // the legacy sha256-<hex>.sig tag
)

func (f Format) String() string {
	if f == Classic {
		return "classic .sig tag"
	}
	return "Sigstore bundle (OCI referrer)"
}

// Sign signs refs (each must carry a digest) with `cosign sign --key`, in one run, offline: no
// signing config from TUF and no transparency log upload.
func (s *Server) Sign(ctx context.Context, cosign, dir string, k Key, f Format, refs ...string) error {
	args := []string{"sign", "--key", k.Priv, "--use-signing-config=false", "--tlog-upload=false", "-y"}
	if f == Classic {
		args = append(args, "--new-bundle-format=false")
	}
	// A second per image on top: one run may sign hundreds.
	_, err := s.run(ctx, ToolTimeout+time.Duration(len(refs))*time.Second, cosign, dir, append(args, refs...)...)
	return err
}
