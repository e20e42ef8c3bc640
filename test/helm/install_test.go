//go:build helm

package helm

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sealgate/sealgate/internal/syncbuf"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// Deadlines. Every wait in this file has one.
const (
	kubectlTimeout = 30 * time.Second
	readyTimeout   = 60 * time.Second // sealgate ready and its CA bundle injected
	settleTimeout  = 30 * time.Second // a policy change reaching sealgate
)

// release is one helm release on the test cluster.
type release struct {
	c        *cluster.Cluster
	name, ns string
	port     int    // where webhook.url points: the locally running sealgate
	scraper  string // a token allowed to get /metrics (metricsToken)
}

func (r *release) helm(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := helm(t.Context(), append(args, "--namespace", r.ns, "--kubeconfig", r.c.Kubeconfig)...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// kubectl runs the real kubectl; it returns stdout, stderr and kubectl's exit status.
func (r *release) kubectl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	out, errOut, err := r.c.Kubectl(ctx, stdin, args...)
	return out, errOut, exitCode(err)
}

func (r *release) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := r.kubectl(t, stdin, args...)
	if code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	cluster.Eventually(t, timeout, what, f)
}

func pod(name, ns string, privileged bool) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0
      securityContext: {privileged: %t}
`, name, ns, privileged)
}

// TestInstallUpgradeUninstall installs the chart into a real kube-apiserver, serves the webhook it
// registers with the real sealgate binary (run locally, with the chart's own arguments and under the
// chart's ServiceAccount and RBAC, since the control plane runs no pods), and walks docs/install.md: audit
// first, then Enforce by helm upgrade, RBAC limits, the break-glass procedure, and helm uninstall.
func TestInstallUpgradeUninstall(t *testing.T) {
	c, err := cluster.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	r := &release{c: c, name: "sealgate", ns: "security", port: freePort(t)}

	// The control plane comes with the CRDs from config/crd; remove them, so that the chart installs them.
	r.mustKubectl(t, "", "delete", "crd", "clusteradmissionpolicies.sealgate.dev", "policyexceptions.sealgate.dev", "--wait", "--timeout=30s")

	out := r.helm(t, "install", r.name, chartDir, "--create-namespace", "--timeout=60s",
		"-f", filepath.Join(chartDir, "ci", "local-values.yaml"),
		"--set", "webhook.url=https://localhost:"+strconv.Itoa(r.port))
	if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "kubectl delete validatingwebhookconfiguration sealgate") {
		t.Errorf("helm install output lacks the status or the NOTES:\n%s", out)
	}
	if got := r.mustKubectl(t, "", "get", "cap", "baseline", "-o", "jsonpath={.spec.mode}"); got != "Audit" {
		t.Fatalf("the chart's baseline policy is in mode %q, want Audit", got)
	}

	sg := r.startSealgate(t)
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"audit", func(t *testing.T) { r.audit(t, sg) }},
		{"metrics", func(t *testing.T) { r.metrics(t, sg) }},
		{"leader-election", r.leaderElection},
		{"enforce", r.enforce},
		{"rbac", r.rbac},
		{"break-glass", func(t *testing.T) { sg.stop(); r.breakGlass(t) }},
		{"uninstall", r.uninstall},
	} {
		if !t.Run(step.name, step.run) {
			break // each step starts from where the last one left the cluster
		}
	}
	if t.Failed() {
		t.Logf("sealgate log:\n%s", sg.log.String())
	}
}

// localSealgate is sealgate serving the release's webhook from this machine.
type localSealgate struct {
	cmd      *exec.Cmd
	health   string
	metrics  string
	log      *syncbuf.Buffer
	done     chan error
	stopOnce sync.Once
}

// startSealgate runs sealgate with the arguments of the release's Deployment (see startLocal).
func (r *release) startSealgate(t *testing.T) *localSealgate {
	t.Helper()
	return startLocal(t, localTarget{env: r.c.Env, client: r.c.Client, dir: r.c.Dir, ns: r.ns, vwc: r.name, port: r.port},
		r.helm(t, "get", "manifest", r.name))
}

// localTarget is what a sealgate run outside the cluster needs from the control plane it serves.
type localTarget struct {
	env    *envtest.Environment // adds the ServiceAccount's user
	client client.Client        // an administrator's, to see the CA bundle injected
	dir    string
	ns     string // the release namespace
	vwc    string // the release's webhook configuration
	port   int    // where webhook.url points
}

// startLocal runs sealgate with the arguments of the Deployment in a release's manifest, as the chart's
// ServiceAccount, changing only what differs outside a pod: the kubeconfig, loopback addresses, a cert
// dir, localhost in the serving certificate, and extraArgs (files the pod would mount).
func startLocal(t *testing.T, tg localTarget, manifest string, extraArgs ...string) *localSealgate {
	t.Helper()
	var deploy appsv1.Deployment
	parse(t, manifest).one(t, "Deployment", &deploy)
	args := deploy.Spec.Template.Spec.Containers[0].Args
	sa := deploy.Spec.Template.Spec.ServiceAccountName

	user, err := tg.env.AddUser(envtest.User{Name: "system:serviceaccount:" + tg.ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tg.ns, "system:authenticated"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(tg.dir, "serviceaccount.kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &localSealgate{health: "127.0.0.1:" + strconv.Itoa(freePort(t)), metrics: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	// pflag: the last value of a flag wins, so these override the chart's. The chart's
	// --metrics-secure stays: /metrics is HTTPS here too, checked with this API server.
	args = append(args, "--kubeconfig="+kcPath, "--host=127.0.0.1", "--port="+strconv.Itoa(tg.port),
		"--cert-dir="+filepath.Join(tg.dir, "certs"), "--cert-dns-name=localhost",
		"--health-probe-bind-address="+s.health, "--metrics-bind-address="+s.metrics, "--shutdown-delay=1s")
	args = append(args, extraArgs...)
	s.cmd = exec.Command(sealgate, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(s.stop)

	vwcName := tg.vwc
	eventually(t, readyTimeout, "sealgate ready and its CA bundle in the webhook configuration", func() (bool, string) {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("sealgate exited: %v\n%s", err, s.log.String())
		default:
		}
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + s.health + "/readyz?verbose")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, string(body)
		}
		vwc := webhookconfig.Empty()
		if err := tg.client.Get(t.Context(), client.ObjectKey{Name: vwcName}, vwc); err != nil {
			return false, err.Error()
		}
		return webhookconfig.Injected(vwc), "ready, CA bundle not injected yet"
	})
	return s
}

func (s *localSealgate) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// scrape gets /metrics over HTTPS, as the chart's ServiceMonitor does: with a bearer token (none if
// empty) and without verifying sealgate's self-signed metrics certificate.
func (s *localSealgate) scrape(t *testing.T, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+s.metrics+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the ServiceMonitor's insecureSkipVerify
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("scraping https://%s/metrics: %v", s.metrics, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
