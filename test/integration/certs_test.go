//go:build integration

package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

var certSecret = client.ObjectKey{Namespace: cluster.Namespace, Name: "sealgate-webhook-cert"}

// (a) Certificate regeneration: whether the Secret's data is wiped or the Secret is deleted,
// sealgate writes a new CA and serving certificate, injects the new CA into both webhooks of the
// configuration, serves the new certificate, and admissions work again, all without a restart.
func TestCertificateRegeneration(t *testing.T) {
	ns := namespace(t, "certs", nil)
	applyPolicy(t, "int-certs", `{match: {namespaceSelector: {matchLabels: {int-test: certs}}}, containers: {privileged: Forbid}}`)
	pid := sg.Cmd.Process.Pid
	wantAdmissionsWork(t, ns, time.Second)

	t.Run("SecretDataWiped", func(t *testing.T) {
		old := secretCA(t)
		var s corev1.Secret
		if err := env.Client.Get(t.Context(), certSecret, &s); err != nil {
			t.Fatal(err)
		}
		s.Data = nil
		if err := env.Client.Update(t.Context(), &s); err != nil {
			t.Fatal(err)
		}
		waitRegenerated(t, ns, old)
	})

	t.Run("SecretDeleted", func(t *testing.T) {
		old := secretCA(t)
		if err := env.Client.Delete(t.Context(), &corev1.Secret{ObjectMeta: objectMeta(certSecret)}); err != nil {
			t.Fatal(err)
		}
		waitRegenerated(t, ns, old)
	})

	if sg.Cmd.Process.Pid != pid || sg.Cmd.Process.Signal(syscall.Signal(0)) != nil {
		t.Errorf("sealgate restarted or exited")
	}
}

// waitRegenerated waits until the Secret holds a new CA, the webhook configuration carries it, sealgate
// serves a certificate it verifies, and an admission through the API server gets sealgate's verdict.
func waitRegenerated(t *testing.T, ns string, oldCA []byte) {
	t.Helper()
	start := time.Now()
	var ca []byte
	eventually(t, 30*time.Second, "a new CA in the Secret", func() (bool, string) {
		var s corev1.Secret
		if err := env.Client.Get(t.Context(), certSecret, &s); err != nil {
			return false, err.Error()
		}
		ca = s.Data["ca.crt"]
		return len(ca) > 0 && len(s.Data["tls.crt"]) > 0 && !bytes.Equal(ca, oldCA), fmt.Sprintf("secret keys: %d", len(s.Data))
	})
	eventually(t, 30*time.Second, "the new CA injected into every webhook", func() (bool, string) {
		vwc := webhookconfig.Empty()
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
			return false, err.Error()
		}
		for _, w := range vwc.Webhooks {
			// The previous CA stays behind the new one for an overlap (pkg/cluster/certs.go).
			if !bytes.HasPrefix(w.ClientConfig.CABundle, ca) {
				return false, w.Name + " has the old or no CA bundle"
			}
		}
		return len(vwc.Webhooks) == 2, "webhooks: " + strconv.Itoa(len(vwc.Webhooks))
	})
	eventually(t, 30*time.Second, "sealgate serving a certificate from the new CA", func() (bool, string) {
		err := handshake(ca)
		return err == nil, fmt.Sprint(err)
	})
	wantAdmissionsWork(t, ns, 30*time.Second)
	t.Logf("regenerated, injected, served and admitting %s after the change", time.Since(start).Round(time.Millisecond))
}

// wantAdmissionsWork waits until a privileged pod gets sealgate's denial through the API server (not
// a TLS or connection failure), then checks the policy webhook answers too.
func wantAdmissionsWork(t *testing.T, ns string, within time.Duration) {
	t.Helper()
	eventually(t, within, "admissions answered by sealgate", func() (bool, string) {
		r := kubectl(t, pod(ns, "priv", privileged), "apply", "--dry-run=server", "-f", "-")
		return r.Err != nil && strings.Contains(r.Stderr, `admission webhook "workloads.sealgate.dev" denied the request`) &&
			strings.Contains(r.Stderr, "spec.containers[0].securityContext.privileged"), r.String()
	})
	r := kubectl(t, policyYAML("int-certs-bad", `{images: {allowedRegistries: ["acme-*"]}}`), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `admission webhook "policies.sealgate.dev" denied the request`) {
		t.Errorf("want the policy webhook to reject an invalid policy: %s", r)
	}
}

// handshake connects to sealgate's webhook port trusting only ca, as the API server does.
func handshake(ca []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("no certificate in the CA bundle")
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+strconv.Itoa(sg.Port), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}

func secretCA(t *testing.T) []byte {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(t.Context(), certSecret, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Data["ca.crt"]) == 0 {
		t.Fatal("the certificate Secret has no CA")
	}
	return s.Data["ca.crt"]
}
