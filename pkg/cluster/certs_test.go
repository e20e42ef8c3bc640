package cluster

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var (
	testSecret  = types.NamespacedName{Namespace: "sealgate-system", Name: "cert"}
	testWebhook = "sealgate"
)

// issued is a CA and a serving certificate it signed, made by the rotator's own code.
type issued struct {
	ca, crt, key []byte
}

func issue(t *testing.T) issued {
	t.Helper()
	cr := &rotator.CertRotator{CAName: "sealgate-ca", CAOrganization: "sealgate", DNSName: "localhost",
		ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	now := time.Now()
	ca, err := cr.CreateCACert(now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := cr.CreateCertPEM(ca, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return issued{ca: ca.CertPEM, crt: crt, key: key}
}

// certWorld is a fake API server with the Secret and the webhook configuration, and a syncer on a
// clock the test moves.
type certWorld struct {
	t     *testing.T
	c     client.Client
	s     *certSync
	clock time.Time
}

func newCertWorld(t *testing.T, in issued, bundle []byte) *certWorld {
	t.Helper()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: testWebhook},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "a", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: bundle}},
			{Name: "b", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: bundle}}}}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(secretWith(in), vwc).Build()
	w := &certWorld{t: t, c: c, clock: time.Now()}
	w.s = newCertSync(c, CertOptions{Secret: testSecret, WebhookConfig: testWebhook, CertDir: t.TempDir(),
		Ready: make(chan struct{})}, logr.Discard())
	w.s.now = func() time.Time { return w.clock }
	return w
}

func secretWith(in issued) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testSecret.Namespace, Name: testSecret.Name},
		Data: map[string][]byte{"ca.crt": in.ca, "tls.crt": in.crt, "tls.key": in.key, "ca.key": []byte("unused")}}
}

// rotate writes a new CA and certificate into the Secret, as the rotator does.
func (w *certWorld) rotate(in issued) {
	w.t.Helper()
	var s corev1.Secret
	if err := w.c.Get(w.t.Context(), testSecret, &s); err != nil {
		w.t.Fatal(err)
	}
	s.Data = secretWith(in).Data
	if err := w.c.Update(w.t.Context(), &s); err != nil {
		w.t.Fatal(err)
	}
}

func (w *certWorld) sync(after time.Duration) {
	w.t.Helper()
	w.clock = w.clock.Add(after)
	if err := w.s.sync(w.t.Context()); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
}

// bundle returns the CA bundle of the first webhook, checking that every webhook has the same, and
// the overlap annotation.
func (w *certWorld) bundle() ([]byte, string) {
	w.t.Helper()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := w.c.Get(w.t.Context(), client.ObjectKey{Name: testWebhook}, &vwc); err != nil {
		w.t.Fatal(err)
	}
	for _, wh := range vwc.Webhooks[1:] {
		if !bytes.Equal(wh.ClientConfig.CABundle, vwc.Webhooks[0].ClientConfig.CABundle) {
			w.t.Fatalf("webhooks %s and %s have different CA bundles", vwc.Webhooks[0].Name, wh.Name)
		}
	}
	return vwc.Webhooks[0].ClientConfig.CABundle, vwc.Annotations[previousCAsUntilAnnotation]
}

func (w *certWorld) served() []byte {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.s.dir, "tls.crt"))
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *certWorld) ready() bool {
	select {
	case <-w.s.ready:
		return true
	default:
		return false
	}
}

// The CA rotation: the new CA joins the bundle beside the old one before any replica serves a
// certificate it signed, the new certificate is served only once the API server has had the new
// CA for caSettle, and the old CA leaves after caOverlap. Replacing the files at once (as sealgate
// did) failed every admission the API server sent with the new bundle to a replica still serving
// the old certificate, for up to a sync interval; the fault suite's TestCARotationUnderLoad counts
// them through a real API server.
func TestCARotationKeepsTheOldCAUntilEveryReplicaSwitched(t *testing.T) {
	old, next := issue(t), issue(t)
	w := newCertWorld(t, old, old.ca)
	w.sync(0)
	if !bytes.Equal(w.served(), old.crt) || !w.ready() {
		t.Fatal("the first sync did not serve the Secret's certificate, whose CA the bundle already had")
	}

	w.rotate(next)
	w.sync(time.Second)
	b, until := w.bundle()
	if !bytes.Equal(b, append(append([]byte(nil), next.ca...), old.ca...)) {
		t.Fatalf("after the rotation the bundle should be the new CA then the old one, got:\n%s", b)
	}
	if want := w.clock.Add(caOverlap).UTC().Format(time.RFC3339); until != want {
		t.Errorf("overlap annotation %q, want %q", until, want)
	}
	if !bytes.Equal(w.served(), old.crt) {
		t.Fatal("the new certificate was served as soon as its CA entered the bundle, before the API server could load it")
	}
	w.sync(caSettle - time.Millisecond)
	if !bytes.Equal(w.served(), old.crt) {
		t.Fatal("the new certificate was served before caSettle passed")
	}
	w.sync(time.Millisecond)
	if !bytes.Equal(w.served(), next.crt) {
		t.Fatal("the new certificate was not served once its CA had settled")
	}
	if b2, _ := w.bundle(); !bytes.Equal(b2, b) {
		t.Fatal("the bundle changed during the overlap")
	}

	w.sync(caOverlap)
	b, until = w.bundle()
	if !bytes.Equal(b, next.ca) || until != "" {
		t.Fatalf("after the overlap the bundle should be the new CA alone with no annotation, got %q and:\n%s", until, b)
	}
}

// A replica that starts during an overlap dates the leading CA from the annotation, so it still
// waits out caSettle if the CA has just come in; the CAs it found otherwise count as settled.
func TestCARotationReplicaStartingDuringTheOverlap(t *testing.T) {
	old, next := issue(t), issue(t)
	w := newCertWorld(t, next, append(append([]byte(nil), next.ca...), old.ca...))
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := w.c.Get(t.Context(), client.ObjectKey{Name: testWebhook}, &vwc); err != nil {
		t.Fatal(err)
	}
	// The new CA came in a second ago.
	metav1.SetMetaDataAnnotation(&vwc.ObjectMeta, previousCAsUntilAnnotation, w.clock.Add(caOverlap-time.Second).UTC().Format(time.RFC3339))
	if err := w.c.Update(t.Context(), &vwc); err != nil {
		t.Fatal(err)
	}
	w.sync(0)
	if w.ready() {
		t.Fatal("ready with a certificate whose CA entered the bundle a second ago")
	}
	w.sync(caSettle)
	if !w.ready() || !bytes.Equal(w.served(), next.crt) {
		t.Fatal("not ready once the new CA had settled")
	}
}

// On a fresh install the bundle is empty: sealgate injects its CA and is ready only once the API
// server has had it for caSettle. Without a webhook configuration there is nothing to wait for.
func TestCertSyncFreshInstall(t *testing.T) {
	in := issue(t)
	w := newCertWorld(t, in, nil)
	w.sync(0)
	if b, _ := w.bundle(); !bytes.Equal(b, in.ca) {
		t.Fatalf("bundle %q, want the Secret's CA", b)
	}
	if w.ready() {
		t.Fatal("ready at once after injecting the CA")
	}
	w.sync(caSettle)
	if !w.ready() || !bytes.Equal(w.served(), in.crt) {
		t.Fatal("not ready once the CA had settled")
	}

	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(secretWith(in)).Build()
	s := newCertSync(c, CertOptions{Secret: testSecret, WebhookConfig: testWebhook, CertDir: t.TempDir(),
		Ready: make(chan struct{})}, logr.Discard())
	if err := s.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !s.isReady {
		t.Error("not ready without a webhook configuration to wait for")
	}
}

func TestPlanBundle(t *testing.T) {
	certs := func(ins ...issued) []*x509.Certificate {
		var out []*x509.Certificate
		for _, in := range ins {
			c, err := parseCerts(in.ca)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c...)
		}
		return out
	}
	a, b, c, d := issue(t), issue(t), issue(t), issue(t)
	now := time.Now()
	later := now.Add(time.Minute).UTC().Format(time.RFC3339)
	past := now.Add(-time.Second).UTC().Format(time.RFC3339)
	fresh := now.Add(caOverlap).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name      string
		cas, have []*x509.Certificate
		until     string
		keep      []*x509.Certificate
		wantUntil string
	}{
		{"in place alone", certs(a), certs(a), "", nil, ""},
		{"empty bundle", certs(a), nil, "", nil, ""},
		{"new CA keeps the old", certs(b), certs(a), "", certs(a), fresh},
		{"new CA again keeps two", certs(c), certs(b, a), later, certs(b, a), fresh},
		{"no more than two", certs(d), certs(c, b, a), later, certs(c, b), fresh},
		{"during the overlap", certs(b), certs(b, a), later, certs(a), later},
		{"after the overlap", certs(b), certs(b, a), past, nil, ""},
		{"extra CA without annotation", certs(b), certs(b, a), "", nil, ""},
		{"leading CA moved back", certs(a), certs(b, a), later, certs(b), fresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, until := planBundle(tc.cas, tc.have, tc.until, now)
			if until != tc.wantUntil || len(keep) != len(tc.keep) {
				t.Fatalf("planBundle = %d CAs until %q, want %d until %q", len(keep), until, len(tc.keep), tc.wantUntil)
			}
			for i := range keep {
				if !keep[i].Equal(tc.keep[i]) {
					t.Errorf("kept CA %d is not the expected one", i)
				}
			}
		})
	}
}
