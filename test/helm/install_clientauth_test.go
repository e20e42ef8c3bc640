//go:build helm

package helm

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sealgate/sealgate/internal/testca"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// TestClientCertificateAuth installs the chart with webhook.clientAuth.caBundle into a real
// kube-apiserver configured as docs/install.md says (an AdmissionConfiguration whose kubeConfigFile
// gives it a client certificate for the webhook's host), and runs sealgate with the chart's arguments
// and the CA bundle from the chart's ConfigMap. The API server's admissions go through; a client
// without a certificate, or with one from another CA, cannot even complete a request.
func TestClientCertificateAuth(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	host := "localhost:" + strconv.Itoa(port) // how the API server names a webhook.url's host

	ca := testca.New(t, "apiserver-client-ca")
	certPEM, keyPEM := ca.Issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth)
	apiServerCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert := testca.New(t, "someone-else").TLS(t, "stranger", x509.ExtKeyUsageClientAuth)

	// The two files of docs/install.md.
	kubeconfig := write(t, dir, "admission-kubeconfig.yaml", fmt.Sprintf(`apiVersion: v1
kind: Config
users:
  - name: %q
    user:
      client-certificate-data: %s
      client-key-data: %s
`, host, base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM)))
	admission := write(t, dir, "admission-config.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: `+kubeconfig+"\n")

	env := &envtest.Environment{BinaryAssetsDirectory: filepath.Join(root, "bin")}
	env.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", admission)
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	adminKubeconfig := write(t, dir, "kubeconfig", string(kc))
	cl, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	const ns = "security"
	out, errOut, err := helm(t.Context(), "install", "sealgate", chartDir, "--namespace", ns, "--create-namespace",
		"--kubeconfig", adminKubeconfig, "--timeout=60s",
		"-f", filepath.Join(chartDir, "ci", "local-values.yaml"),
		"--set", "webhook.url=https://"+host,
		"--set-file", "webhook.clientAuth.caBundle="+write(t, dir, "client-ca.pem", string(ca.PEM)),
		"--set", "policies.baseline.mode=Enforce")
	if err != nil {
		t.Fatalf("helm install: %v\n%s%s", err, out, errOut)
	}
	manifest, errOut, err := helm(t.Context(), "get", "manifest", "sealgate", "--namespace", ns, "--kubeconfig", adminKubeconfig)
	if err != nil {
		t.Fatalf("helm get manifest: %v\n%s", err, errOut)
	}
	// The pod would mount the chart's ConfigMap; here its content goes into a local file.
	var cm corev1.ConfigMap
	if !parse(t, manifest).named(t, "ConfigMap", "sealgate-client-ca", &cm) {
		t.Fatal("the release has no ConfigMap sealgate-client-ca")
	}
	sg := startLocal(t, localTarget{env: env, client: cl, dir: dir, ns: ns, vwc: "sealgate", port: port}, manifest,
		"--client-ca-file="+write(t, dir, "mounted-ca.crt", cm.Data["ca.crt"]))
	if t.Failed() {
		return
	}
	defer func() {
		if t.Failed() {
			t.Logf("sealgate log:\n%s", sg.log.String())
		}
	}()

	// Through the API server: it presents its certificate, and sealgate answers.
	if err := cl.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, priv bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0",
				SecurityContext: &corev1.SecurityContext{Privileged: &priv}}}}}
	}
	eventually(t, settleTimeout, "a privileged pod denied by sealgate through the API server", func() (bool, string) {
		err := cl.Create(t.Context(), pod("privileged", true), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), denied) && strings.Contains(err.Error(), "[baseline/podSecurity.privileged]"), fmt.Sprint(err)
	})
	if err := cl.Create(t.Context(), pod("plain", false)); err != nil {
		t.Errorf("a pod that meets the baseline: %v", err)
	}

	// Directly: only a certificate from the API server's client CA gets an HTTP answer.
	vwc := webhookconfig.Empty()
	if err := cl.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("the webhook configuration has no CA bundle")
	}
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{{"no certificate", nil, false}, {"another CA's certificate", strangerCert, false}, {"the API server's certificate", &apiServerCert, true}} {
		code, err := postReview(t, port, roots, c.cert)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.ok && err == nil:
			t.Errorf("%s: sealgate answered HTTP %d; want the TLS handshake refused", c.name, code)
		case !c.ok && !strings.Contains(err.Error(), "tls:"):
			t.Errorf("%s: %v; want a TLS error", c.name, err)
		}
	}
}

// postReview posts an empty body to the workload webhook on 127.0.0.1 as localhost, optionally with a
// client certificate, and returns the HTTP status or the error.
func postReview(t *testing.T, port int, roots *x509.CertPool, cert *tls.Certificate) (int, error) {
	t.Helper()
	tc := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + webhookconfig.WorkloadPath
	resp, err := hc.Post(url, "application/json", bytes.NewReader(nil))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
