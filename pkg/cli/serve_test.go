package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/internal/syncbuf"
	"github.com/sealgate/sealgate/internal/testca"
)

const servePolicies = `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: enforce}
spec:
  mode: Enforce
  containers: {privileged: Forbid}
  images: {allowedRegistries: ["registry.example.com/**"]}
---
apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: warn}
spec:
  mode: Warn
  images: {disallowLatestTag: true}
---
apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: audit}
spec:
  mode: Audit
  resources: {requireLimits: [memory]}
`

// TestServe runs `sealgate serve` in process against real HTTPS clients: verdicts over the wire, TLS
// settings, metrics, certificate rotation without restart, and a prompt clean exit on cancel.
func TestServe(t *testing.T) {
	policyDir, certDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(policyDir, "policies.yaml"), []byte(servePolicies), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testca.New(t, "sealgate test CA 1")
	ca.WriteServing(t, certDir)

	webhookAddr, healthAddr, metricsAddr := serveFreeAddr(t), serveFreeAddr(t), serveFreeAddr(t)
	_, port, _ := net.SplitHostPort(webhookAddr)
	s := startServe(t, []string{"serve", "--policy-file", policyDir, "--port", port, "--cert-dir", certDir,
		"--health-probe-bind-address", healthAddr, "--metrics-bind-address", metricsAddr, "--host", "127.0.0.1"})
	s.waitReady(t, "http://"+healthAddr+"/readyz")

	url := "https://" + webhookAddr + "/validate"
	client := serveClient(ca.Pool())
	defer client.CloseIdleConnections()
	metricsURL := "http://" + metricsAddr + "/metrics"
	before := scrapeServeMetrics(t, metricsURL)

	t.Run("verdicts", func(t *testing.T) {
		good := serveContainer("app", "registry.example.com/team/app:1.2.3")
		bad := serveContainer("app", "registry.example.com/team/app:1.2.3")
		bad.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		latest := serveContainer("app", "registry.example.com/team/app:latest")
		unlimited := serveContainer("app", "registry.example.com/team/app:1.2.3")
		unlimited.Resources = corev1.ResourceRequirements{}

		resp := postReview(t, client, url, serveReview(t, good))
		if !resp.Allowed || len(resp.Warnings) > 0 {
			t.Errorf("compliant pod: allowed=%v warnings=%q", resp.Allowed, resp.Warnings)
		}
		resp = postReview(t, client, url, serveReview(t, bad))
		if resp.Allowed || resp.Result.Code != http.StatusForbidden ||
			!strings.Contains(resp.Result.Message, "spec.containers[0].securityContext.privileged") {
			t.Errorf("privileged pod: allowed=%v result=%+v", resp.Allowed, resp.Result)
		}
		resp = postReview(t, client, url, serveReview(t, latest))
		if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "spec.containers[0].image") {
			t.Errorf(":latest pod: allowed=%v warnings=%q", resp.Allowed, resp.Warnings)
		}
		resp = postReview(t, client, url, serveReview(t, unlimited))
		if !resp.Allowed || !strings.Contains(resp.AuditAnnotations["violations"], "spec.containers[0].resources.limits.memory") {
			t.Errorf("pod without limits: allowed=%v audit=%q", resp.Allowed, resp.AuditAnnotations)
		}

		// Malformed: a 400, and the server keeps serving.
		r, err := client.Post(url, "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("malformed review: HTTP %d, want 400", r.StatusCode)
		}
		if resp := postReview(t, client, url, serveReview(t, good)); !resp.Allowed {
			t.Errorf("compliant pod after a malformed request: denied: %+v", resp.Result)
		}
	})

	t.Run("tls", func(t *testing.T) {
		r, err := client.Post(url, "application/json", bytes.NewReader(serveReview(t, serveContainer("app", "registry.example.com/a:1"))))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.TLS == nil {
			t.Fatal("response without TLS state")
		}
		if r.ProtoMajor != 1 || r.TLS.NegotiatedProtocol == "h2" {
			t.Errorf("negotiated %s (ALPN %q), want HTTP/1.1 only", r.Proto, r.TLS.NegotiatedProtocol)
		}
		if r.TLS.Version != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", r.TLS.Version)
		}
		for _, v := range []uint16{tls.VersionTLS11, tls.VersionTLS12} {
			conn, err := tls.Dial("tcp", webhookAddr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: v})
			if err == nil {
				conn.Close()
				t.Errorf("a client with TLS max version %s connected; --tls-min-version defaults to 1.3", tls.VersionName(v))
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		after := scrapeServeMetrics(t, metricsURL)
		for _, c := range []struct {
			series string
			want   float64
		}{
			{`sealgate_admission_decisions_total{decision="allowed"}`, 5},
			{`sealgate_admission_decisions_total{decision="denied"}`, 1},
			{`sealgate_admission_decisions_total{decision="error"}`, 1},
			{`sealgate_violations_total{decision="denied",mode="Enforce",policy="enforce",rule="containers.privileged"}`, 1},
			{`sealgate_violations_total{decision="warned",mode="Warn",policy="warn",rule="images.disallowLatestTag"}`, 1},
			{`sealgate_violations_total{decision="audited",mode="Audit",policy="audit",rule="resources.requireLimits"}`, 1},
			{`controller_runtime_webhook_requests_total{code="200",webhook="/validate"}`, 6},
			{`controller_runtime_webhook_requests_total{code="400",webhook="/validate"}`, 1},
		} {
			if got := after[c.series] - before[c.series]; got != c.want {
				t.Errorf("%s rose by %v, want %v", c.series, got, c.want)
			}
		}
	})

	t.Run("certificate rotation", func(t *testing.T) {
		ca2 := testca.New(t, "sealgate test CA 2")
		ca2.WriteServing(t, certDir)
		client2 := serveClient(ca2.Pool())
		defer client2.CloseIdleConnections()
		review := serveReview(t, serveContainer("app", "registry.example.com/a:1"))
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, err := client2.Post(url, "application/json", bytes.NewReader(review))
			if err == nil {
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != http.StatusOK {
					t.Fatalf("after rotation: HTTP %d", r.StatusCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the rotated certificate was not served within 15s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// A new connection trusting only the old CA is now refused.
		old := serveClient(ca.Pool())
		if r, err := old.Post(url, "application/json", bytes.NewReader(review)); err == nil {
			r.Body.Close()
			t.Error("a client trusting only the old CA still connects after rotation")
		}
	})

	client.CloseIdleConnections()
	if code := s.stop(t, 10*time.Second); code != ExitOK {
		t.Errorf("serve exited %d, want 0; stderr:\n%s", code, s.stderr.String())
	}
}

// serveProcess is `sealgate serve` running in a goroutine of the test.
type serveProcess struct {
	cancel context.CancelFunc
	done   chan struct{}
	code   int
	stderr *syncbuf.Buffer
}

func startServe(t *testing.T, args []string) *serveProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &serveProcess{cancel: cancel, done: make(chan struct{}), stderr: &syncbuf.Buffer{}}
	go func() {
		defer close(s.done)
		s.code = Execute(ctx, args, IO{In: strings.NewReader(""), Out: io.Discard, Err: s.stderr})
	}()
	// Whatever happens in the test, serve is stopped before it ends.
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Errorf("serve did not stop within 15s of cancel")
		}
	})
	return s
}

func (s *serveProcess) waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			t.Fatalf("serve exited %d before it was ready; stderr:\n%s", s.code, s.stderr.String())
		default:
		}
		if r, err := c.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 15s; stderr:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop cancels serve's context and returns its exit code, failing if it does not return in time.
func (s *serveProcess) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		t.Fatalf("serve did not return within %s of cancel", timeout)
		return -1
	}
}

// serveFreeAddr returns a free loopback address for serve to bind. The port is released before serve
// binds it, so it is taken below Linux's ephemeral range (32768-60999 by default), from which the
// kernel hands out the ports of every other test's 127.0.0.1:0 listener and outgoing connection:
// picked there, it was taken now and then by a test running beside this one before serve bound it.
func serveFreeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // in use: another
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

func serveClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true, // the server must refuse it
	}}
}

func serveContainer(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image, Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}
}

// serveReview is the AdmissionReview the API server sends to create a pod with the given containers.
func serveReview(t *testing.T, cs ...corev1.Container) []byte {
	t.Helper()
	pod, err := json.Marshal(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod"}, Spec: corev1.PodSpec{Containers: cs}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "0d5d8e0a-1c1b-4b8e-9a52-6f0c8c3c7e11",
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:     "web", Namespace: "prod", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: pod}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postReview posts an AdmissionReview and returns its response, failing on anything but a 200 with
// a response for the same UID.
func postReview(t *testing.T, c *http.Client, url string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	r, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", r.StatusCode, out)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &rv); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if rv.Response == nil || rv.Response.UID != "0d5d8e0a-1c1b-4b8e-9a52-6f0c8c3c7e11" || rv.Response.Result == nil {
		t.Fatalf("response without the request's UID or a result: %s", out)
	}
	return rv.Response
}

// scrapeServeMetrics reads a Prometheus text exposition into series -> value, keyed by the series
// exactly as exposed (client_golang sorts labels by name).
func scrapeServeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, r.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}
