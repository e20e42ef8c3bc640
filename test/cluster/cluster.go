// Package cluster starts a real local control plane (kube-apiserver and etcd on loopback, through
// controller-runtime's envtest) with sealgate's CRD installed, and runs the real sealgate binary
// against it as a webhook. The integration and end-to-end suites and `make demo` share it.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sealgate/sealgate/internal/syncbuf"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// webhookConfigName is the name of the webhook configuration the harness registers (webhookconfig's
// default).
const webhookConfigName = "sealgate"

// Namespace sealgate runs in; the webhook configuration excludes it.
const Namespace = "sealgate-system"

// Root is the repository root, found from this file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Cluster is a running control plane.
type Cluster struct {
	Env        *envtest.Environment
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	Dir        string
	bin        string
}

// Start starts etcd and kube-apiserver from ./bin and installs the CRD. It fails, never skips, when
// a binary is missing: `hack/tools.sh kube-apiserver kubectl etcd` installs them.
func Start(dir string) (*Cluster, error) {
	bin := filepath.Join(Root(), "bin")
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run `hack/tools.sh kube-apiserver kubectl etcd` (make test does)", b, bin)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Env: env, Config: cfg, Dir: dir, bin: bin}
	if err := c.setup(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) setup() error {
	user, err := c.Env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	scheme := clientgoscheme.Scheme
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	return c.EnsureNamespace(context.Background(), Namespace, nil)
}

// Stop stops the control plane.
func (c *Cluster) Stop() error { return c.Env.Stop() }

// EnsureNamespace creates a namespace with labels if it does not exist.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// Kubectl runs the real kubectl against the cluster and returns stdout, stderr and the error.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = bytes.NewBufferString(stdin)
	}
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// Sealgate is a running `sealgate serve` process registered as the cluster's webhook.
type Sealgate struct {
	Cmd         *exec.Cmd
	Port        int
	HealthAddr  string
	MetricsAddr string
	// Log is sealgate's stdout and stderr; safe to read while sealgate writes.
	Log  *LogBuffer
	done chan error
	stop sync.Once
}

// LogBuffer collects a process's output. Reads may run while the process writes to it.
type LogBuffer = syncbuf.Buffer

// StartSealgate builds nothing: it runs binary (bin/sealgate) with policies from the cluster and
// self-managed certificates, registers the webhook at https://localhost:<port>, and waits until
// sealgate is ready and the API server trusts it.
func (c *Cluster) StartSealgate(ctx context.Context, binary string, extraArgs ...string) (*Sealgate, error) {
	s, err := newSealgate()
	if err != nil {
		return nil, err
	}
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: Namespace, URL: "https://localhost:" + strconv.Itoa(s.Port), TimeoutSeconds: 10})
	if err != nil {
		return nil, err
	}
	if err := c.Client.Create(ctx, vwc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("registering the webhook: %w", err)
	}
	return c.serve(ctx, s, binary, filepath.Join(c.Dir, "certs"), vwc.Name, extraArgs)
}

// StartReplica runs one more `sealgate serve` against the cluster, as another replica of the one
// StartSealgate started: its own ports and cert dir, the same certificate Secret and Lease, and no
// webhook registration, so the API server keeps calling the first; tests reach this one at Port.
func (c *Cluster) StartReplica(ctx context.Context, binary, name string, extraArgs ...string) (*Sealgate, error) {
	s, err := newSealgate()
	if err != nil {
		return nil, err
	}
	return c.serve(ctx, s, binary, filepath.Join(c.Dir, "certs-"+name), webhookConfigName, extraArgs)
}

func newSealgate() (*Sealgate, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	return &Sealgate{Port: ports[0], HealthAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		MetricsAddr: "127.0.0.1:" + strconv.Itoa(ports[2]), Log: &LogBuffer{}, done: make(chan error, 1)}, nil
}

func (c *Cluster) serve(ctx context.Context, s *Sealgate, binary, certDir, vwcName string, extraArgs []string) (*Sealgate, error) {
	args := append([]string{"serve",
		"--kubeconfig", c.Kubeconfig, "--namespace", Namespace,
		"--host", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--cert-dir", certDir,
		"--cert-dns-name", "localhost",
		"--health-probe-bind-address", s.HealthAddr, "--metrics-bind-address", s.MetricsAddr,
	}, extraArgs...)
	s.Cmd = exec.Command(binary, args...)
	s.Cmd.Stdout, s.Cmd.Stderr = s.Log, s.Log
	if err := s.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() { s.done <- s.Cmd.Wait() }()
	if err := c.waitReady(ctx, s, vwcName); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w\nsealgate log:\n%s", err, s.Log.String())
	}
	return s, nil
}

func (c *Cluster) waitReady(ctx context.Context, s *Sealgate, vwcName string) error {
	deadline := time.Now().Add(90 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	last := ""
	for {
		select {
		case err := <-s.done:
			return fmt.Errorf("sealgate exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sealgate was not ready within 90s; last /readyz: %s", last)
		}
		ready := false
		if resp, err := hc.Get("http://" + s.HealthAddr + "/readyz?verbose"); err == nil {
			ready = resp.StatusCode == http.StatusOK
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			last = b.String()
			resp.Body.Close()
		}
		if ready {
			var vwc = webhookconfig.Empty()
			if err := c.Client.Get(ctx, client.ObjectKey{Name: vwcName}, vwc); err == nil && webhookconfig.Injected(vwc) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Restart runs binary again as s ran, on s's ports and certificate directory, after s has been
// stopped: the webhook configuration still points at s's port, so the API server reaches the new
// process. It is for tests that take sealgate down and bring it back.
func (c *Cluster) Restart(ctx context.Context, s *Sealgate, binary string, extraArgs ...string) (*Sealgate, error) {
	n := &Sealgate{Port: s.Port, HealthAddr: s.HealthAddr, MetricsAddr: s.MetricsAddr, Log: &LogBuffer{}, done: make(chan error, 1)}
	return c.serve(ctx, n, binary, filepath.Join(c.Dir, "certs"), webhookConfigName, extraArgs)
}

// Stop terminates sealgate and waits for it to exit. Later calls do nothing.
func (s *Sealgate) Stop() error {
	if s.Cmd.Process == nil {
		return nil
	}
	s.stop.Do(func() {
		_ = s.Cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.Cmd.Process.Kill()
			<-s.done
		}
	})
	return nil
}

// Metrics returns sealgate's /metrics text.
func (s *Sealgate) Metrics() (string, error) {
	resp, err := http.Get("http://" + s.MetricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return b.String(), err
}

// GVR of the policy resource, for kubectl-free checks.
var PolicyGVR = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "clusteradmissionpolicies"}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// BuildSealgate builds the sealgate binary from this checkout into dir and returns its path, so the
// suites run the binary users run.
func BuildSealgate(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sealgate")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sealgate")
	build.Dir = Root()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building sealgate: %w\n%s", err, out)
	}
	return bin, nil
}
