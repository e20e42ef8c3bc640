package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// server is one webhook process under test, started by this program on loopback.
type server struct {
	name   string // as printed in the tables
	url    string // the validating endpoint
	health string // polled until it answers 200
	// verdicts is whether the server's answers must match the bodies (allowed, denied); the floor
	// answers allowed to everything.
	verdicts bool
	// env is added to the server's environment.
	env []string
	// pprof is the base URL of the server's /debug/pprof/, when it serves one (sealgate under -profile).
	pprof string
	cmd   *exec.Cmd
	done  chan error
	log   string
}

// sealgateMemLimit is the Go soft memory limit sealgate takes under the chart's default memory limit.
const sealgateMemLimit = "460MiB"

func (s *server) pid() int { return s.cmd.Process.Pid }

// start runs the server's command with its output in a log file in dir, and waits until its health
// endpoint answers.
func (s *server) start(dir string, hc *http.Client, name string, args ...string) error {
	s.log = filepath.Join(dir, s.name+".log")
	f, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer f.Close()
	s.cmd = exec.Command(name, args...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.Env = append(os.Environ(), s.env...)
	// The server dies with this program, even if it is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.name, err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			return fmt.Errorf("%s exited before it was ready (%v); its log: %s", s.name, err, tail(s.log))
		default:
		}
		if resp, err := hc.Get(s.health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s was not ready within 60s at %s; its log: %s", s.name, s.health, tail(s.log))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop interrupts the server and waits for it, killing it after 10s.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// tail returns the last 2 KB of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return "\n" + string(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// certs is a CA and a serving certificate for localhost and 127.0.0.1, written to dir as ca.crt,
// tls.crt and tls.key (the names sealgate's --cert-dir wants).
type certs struct {
	caPEM    []byte
	pool     *x509.CertPool
	certFile string
	keyFile  string
	pair     tls.Certificate
}

func makeCerts(dir string) (*certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench-e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &certs{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool(),
		certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	c.pool.AddCert(ca)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), c.caPEM, 0o600); err != nil {
		return nil, err
	}
	c.pair, err = tls.X509KeyPair(certPEM, keyPEM)
	return c, err
}

// restrictedPolicy is sealgate's policy in every measurement: the restricted Pod Security Standard
// at the latest version, enforced, and nothing else, the same policy the peers apply.
const restrictedPolicy = `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata:
  name: restricted
spec:
  mode: Enforce
  match:
    # The namespace of the "sealgate-unmatched" admission: no policy acts on it, so the webhook's
    # generated matchConditions keep the API server from calling sealgate there.
    excludeNamespaces: [bench-sealgate-unmatched]
  podSecurity:
    level: restricted
    version: latest
`

// psaConfig is the upstream webhook's PodSecurityConfiguration: restricted, latest, enforced in
// every namespace without a label, no exemptions.
const psaConfig = `apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: restricted
  enforce-version: latest
  audit: privileged
  audit-version: latest
  warn: privileged
  warn-version: latest
exemptions:
  usernames: []
  runtimeClasses: []
  namespaces: []
`

// startServers starts every server named in which; the caller stops them. kubeconfig is the
// upstream PSA webhook's (it reads namespace labels); bin holds the binaries.
func startServers(which []string, bin, baseline, dir, kubeconfig string, c *certs, hc *http.Client, profile bool) ([]*server, error) {
	var out []*server
	fail := func(err error) ([]*server, error) {
		for _, s := range out {
			s.stop()
		}
		return nil, err
	}
	for _, name := range which {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		a := addr(port)
		s := &server{name: name, url: "https://" + a + "/validate", health: "https://" + a + "/healthz", verdicts: true}
		switch name {
		case "floor", "floor-json":
			s.verdicts = false
			args := []string{"-addr", a, "-cert", c.certFile, "-key", c.keyFile}
			if name == "floor-json" {
				args = append(args, "-validate")
			}
			err = s.start(dir, hc, filepath.Join(bin, "benche2e-floor"), args...)
		case "rego":
			err = s.start(dir, hc, filepath.Join(bin, "benche2e-rego"), "-addr", a, "-cert", c.certFile, "-key", c.keyFile)
		case "sealgate", "sealgate-baseline":
			exe := filepath.Join(bin, "sealgate")
			if name == "sealgate-baseline" {
				exe = baseline
			}
			var hport int
			if hport, err = freePort(); err != nil {
				return fail(err)
			}
			pol := filepath.Join(dir, "restricted.yaml")
			if err = os.WriteFile(pol, []byte(restrictedPolicy), 0o600); err != nil {
				return fail(err)
			}
			s.health = "http://" + addr(hport) + "/readyz"
			// As the chart runs it: its 512Mi memory limit gives the Go runtime a 460MiB soft limit
			// (90%), under which sealgate raises GOGC (docs/cli.md). No cgroup limit here, so say it.
			s.env = []string{"GOMEMLIMIT=" + sealgateMemLimit}
			args := []string{"serve", "--policy-file", pol,
				"--cert-mode", "external", "--cert-dir", dir, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
				"--health-probe-bind-address", addr(hport), "--metrics-bind-address", "0",
				"--audit=false", "--leader-elect=false", "--log-level", "error"}
			if profile && name == "sealgate" {
				var pport int
				if pport, err = freePort(); err != nil {
					return fail(err)
				}
				s.pprof = "http://" + addr(pport) + "/debug/pprof/"
				args = append(args, "--profiling-bind-address", addr(pport))
			}
			err = s.start(dir, hc, exe, args...)
		case "psa-webhook":
			cfg := filepath.Join(dir, "podsecurity.yaml")
			if err = os.WriteFile(cfg, []byte(psaConfig), 0o600); err != nil {
				return fail(err)
			}
			s.url, s.health = "https://"+a+"/", "https://"+a+"/readyz"
			err = s.start(dir, hc, filepath.Join(bin, "pod-security-webhook"), "--kubeconfig", kubeconfig,
				"--config", cfg, "--tls-cert-file", c.certFile, "--tls-private-key-file", c.keyFile,
				"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port))
		default:
			return fail(fmt.Errorf("unknown server %q (known: floor, floor-json, sealgate, psa-webhook, rego)", name))
		}
		if err != nil {
			return fail(err)
		}
		out = append(out, s)
	}
	return out, nil
}

// cpuProfile asks the server for a CPU profile of the next d and returns a function that waits for it
// and writes it to path. A server without a profiling endpoint gives a function that does nothing.
func (s *server) cpuProfile(path string, d time.Duration) func() error {
	if s.pprof == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: d + 30*time.Second}
		resp, err := c.Get(s.pprof + "profile?seconds=" + strconv.Itoa(max(1, int(d.Seconds()))))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: CPU profile: %s", s.name, resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return func() error { return <-done }
}
