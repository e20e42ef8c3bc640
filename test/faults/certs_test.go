//go:build faults

package faults

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

var certSecret = client.ObjectKey{Namespace: cluster.Namespace, Name: "sealgate-webhook-cert"}

// (f) The self-managed CA comes within cert-controller's 90-day look-ahead of its expiry, as it does
// in production once a year goes by, with admissions running through two replicas. The rotator makes
// a new CA and serving certificate; the API server must trust the new certificate by the time any
// replica serves it, and keep trusting the old one while a replica still does. Nothing may be lost.
func TestCARotationUnderLoad(t *testing.T) {
	f := newFleet(t)
	f.start("a")
	f.start("b")
	l := startLoad(t, 4, 5*time.Millisecond)
	waitRequests(t, l, 100)

	oldCA := secretData(t)["ca.crt"]
	start := time.Now()
	ageCA(t, 30*24*time.Hour)

	var newCA []byte
	cluster.Eventually(t, settle, "a new CA in the Secret", func() (bool, string) {
		ca := secretData(t)["ca.crt"]
		newCA = ca
		return !samePublicKey(ca, oldCA), "still the old CA key"
	})
	rotated := time.Since(start)
	var injected time.Duration
	cluster.Eventually(t, settle, "the new CA in the webhook configuration", func() (bool, string) {
		vwc := webhookconfig.Empty()
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
			return false, err.Error()
		}
		for _, w := range vwc.Webhooks {
			if !bytes.Contains(w.ClientConfig.CABundle, bytes.TrimSpace(newCA)) {
				return false, w.Name + " lacks the new CA"
			}
		}
		injected = time.Since(start)
		return true, ""
	})
	var served time.Duration
	cluster.Eventually(t, 60*time.Second, "every replica serving a certificate from the new CA", func() (bool, string) {
		for name, s := range f.replicas {
			if err := handshake(s.Port, newCA); err != nil {
				return false, name + ": " + err.Error()
			}
		}
		served = time.Since(start)
		return true, ""
	})
	waitRequests(t, l, 200)
	s := l.Stop()
	wantNothingLost(t, "CA rotation", s)
	figure(t, "new CA in the Secret after %d ms, in the webhook configuration after %d ms, served by both replicas after %d ms; %d admissions during the rotation, %d failed",
		rotated.Milliseconds(), injected.Milliseconds(), served.Milliseconds(), s.Total(), s.Failed)
}

func secretData(t *testing.T) map[string][]byte {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(t.Context(), certSecret, &s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// ageCA writes into the Secret the CA certificate re-issued with the same key and subject but
// expiring after validFor: to every client it is the same CA (the serving certificate still
// verifies against either), and to the rotator it is a CA about to expire.
func ageCA(t *testing.T, validFor time.Duration) {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(t.Context(), certSecret, &s); err != nil {
		t.Fatal(err)
	}
	caCert, err := parseCert(s.Data["ca.crt"])
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(s.Data["ca.key"])
	if block == nil {
		t.Fatal("the Secret's ca.key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *caCert
	tmpl.NotAfter = time.Now().Add(validFor)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	s.Data["ca.crt"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := env.Client.Update(t.Context(), &s); err != nil {
		t.Fatal(err)
	}
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// samePublicKey reports whether two PEM certificates carry the same key (an aged CA is the same CA).
func samePublicKey(a, b []byte) bool {
	ca, errA := parseCert(a)
	cb, errB := parseCert(b)
	return errA == nil && errB == nil && bytes.Equal(ca.RawSubjectPublicKeyInfo, cb.RawSubjectPublicKeyInfo)
}

// handshake connects to a replica's webhook port trusting only ca, as the API server does.
func handshake(port int, ca []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("no certificate in the CA bundle")
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+strconv.Itoa(port),
		&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}
