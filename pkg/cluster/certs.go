package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertOptions configure self-managed serving certificates.
type CertOptions struct {
	// Secret holds the CA and the serving certificate; created empty if missing.
	Secret types.NamespacedName
	// CertDir is where tls.crt and tls.key are written for the webhook server (an emptyDir in a pod).
	CertDir string
	// DNSNames the serving certificate is valid for; the first is the primary name.
	DNSNames []string
	// WebhookConfig is the ValidatingWebhookConfiguration whose caBundle is kept current.
	WebhookConfig string
	// Ready is closed once this replica's certificate is in place and the API server trusts it.
	Ready chan struct{}
}

// How a CA is replaced without a failed admission. The rotator replaces the CA and the serving
// certificate in the Secret at once; if the API server then trusted only the new CA, every replica
// still serving the old certificate would fail every call until it switched. So the bundle holds
// the new CA and the previous ones for caOverlap, and a replica serves a new certificate only once
// its CA has been in the bundle for caSettle, long enough for the API server to load it.
const (
	// certSyncInterval is how often each replica reads the Secret and the webhook configuration.
	certSyncInterval = 2 * time.Second
	// caSettle is how long a CA must have been in the bundle (as this replica saw it) before this
	// replica serves a certificate it signed. The API server follows the configuration through a
	// watch, in well under a second.
	caSettle = 3 * time.Second
	// caOverlap is how long replaced CAs stay in the bundle: far longer than every replica needs to
	// switch (a sync and caSettle), short enough that a CA replaced on purpose soon stops counting.
	caOverlap = 2 * time.Minute
	// maxPreviousCAs bounds the replaced CAs kept, should the CA be replaced again within caOverlap.
	maxPreviousCAs = 2
	// previousCAsUntilAnnotation on the webhook configuration says until when the bundle keeps the
	// replaced CAs. Every replica reads it, so they agree on when to drop them.
	previousCAsUntilAnnotation = "sealgate.dev/previous-cas-until"
)

// SetupCerts adds cert-controller's rotator to the manager, which creates a CA and a serving
// certificate in the Secret and replaces them before they expire, and a syncer that keeps the
// webhook configuration's CA bundle and the files in CertDir current, in the order that keeps the
// API server trusting what every replica serves. The webhook server's certificate watcher reloads
// the files without a restart.
func SetupCerts(ctx context.Context, mgr ctrl.Manager, live client.Client, o CertOptions, log logr.Logger) error {
	if len(o.DNSNames) == 0 {
		return fmt.Errorf("self-managed certificates need at least one DNS name")
	}
	if err := ensureSecret(ctx, live, o.Secret); err != nil {
		return err
	}
	if err := os.MkdirAll(o.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating cert dir: %w", err)
	}
	cr := &rotator.CertRotator{
		SecretKey:      o.Secret,
		CertDir:        o.CertDir,
		CAName:         "sealgate-ca",
		CAOrganization: "sealgate",
		DNSName:        o.DNSNames[0],
		ExtraDNSNames:  o.DNSNames[1:],
		// The rotator's own readiness is not ours: the syncer's says the API server trusts us.
		IsReady: make(chan struct{}),
		// No webhooks: the rotator would inject the new CA alone, the moment it made it. The syncer
		// injects it beside the previous one instead.
		Webhooks: nil,
		// Every replica serves, so every replica keeps its files and the bundle current.
		RequireLeaderElection: false,
		FieldOwner:            "sealgate",
	}
	if err := rotator.AddRotator(mgr, cr); err != nil {
		return fmt.Errorf("setting up certificate rotation: %w", err)
	}
	return mgr.Add(newCertSync(live, o, log))
}

func ensureSecret(ctx context.Context, c client.Client, key types.NamespacedName) error {
	var s corev1.Secret
	err := c.Get(ctx, key, &s)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading certificate secret %s: %w", key, err)
	}
	s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
		Labels: map[string]string{"app.kubernetes.io/name": "sealgate"}}, Type: corev1.SecretTypeOpaque}
	if err := c.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating certificate secret %s: %w", key, err)
	}
	return nil
}

// certSync keeps, on every replica, the CA bundle of the webhook configuration and the files in the
// cert dir in step with the Secret the rotator writes. If the Secret is deleted it creates it again,
// empty: the rotator then fills it with a new CA and certificate (it does nothing about a missing
// Secret by itself).
type certSync struct {
	client  client.Client
	secret  types.NamespacedName
	webhook string
	dir     string
	ready   chan struct{}
	log     logr.Logger
	now     func() time.Time

	// seen is when this replica first saw each CA (by its DER) in the bundle.
	seen    map[string]time.Time
	looked  bool
	isReady bool
	waiting []byte // the certificate held back, logged once
}

func newCertSync(c client.Client, o CertOptions, log logr.Logger) *certSync {
	return &certSync{client: c, secret: o.Secret, webhook: o.WebhookConfig, dir: o.CertDir, ready: o.Ready,
		log: log, now: time.Now, seen: map[string]time.Time{}}
}

// NeedLeaderElection: every replica needs its own files, and any replica may inject the bundle.
func (s *certSync) NeedLeaderElection() bool { return false }

func (s *certSync) Start(ctx context.Context) error {
	for {
		if err := s.sync(ctx); err != nil {
			s.log.Error(err, "syncing the serving certificate and the CA bundle")
		}
		wait := certSyncInterval
		if !s.isReady {
			wait = caSettle / 4 // starting: ready as soon as the API server trusts the certificate
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *certSync) sync(ctx context.Context) error {
	var sec corev1.Secret
	if err := s.client.Get(ctx, s.secret, &sec); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		// Deleted: recreate it so the rotator regenerates. Serving goes on with the files in place.
		if err := ensureSecret(ctx, s.client, s.secret); err != nil {
			return err
		}
		s.log.Info("certificate secret was missing; created it for the rotator to fill", "secret", s.secret.String())
		return nil
	}
	ca, crt, key := sec.Data["ca.crt"], sec.Data["tls.crt"], sec.Data["tls.key"]
	if len(ca) == 0 || len(crt) == 0 || len(key) == 0 {
		return nil // the rotator has not filled it yet
	}
	cas, err := parseCerts(ca)
	if err != nil || len(cas) == 0 {
		return fmt.Errorf("the certificate secret's ca.crt: no usable certificate (%v)", err)
	}
	bundle, found, err := s.syncBundle(ctx, ca, cas)
	if err != nil {
		return err
	}
	trusted := s.settled(bundle)
	if !found {
		trusted = cas // no configuration to keep in step with: nothing to wait for
	}
	served, err := os.ReadFile(filepath.Join(s.dir, "tls.crt"))
	switch {
	case err == nil && bytes.Equal(served, crt):
	case err != nil || verifies(crt, trusted, s.now()):
		// No file yet (nothing is served before Ready), or the API server already trusts the new
		// certificate's CA.
		if err := s.writeFiles(crt, key); err != nil {
			return err
		}
		served = crt
		s.waiting = nil
	default:
		if !bytes.Equal(s.waiting, crt) {
			s.log.Info("holding a new serving certificate back until the API server has had its CA for a while", "settle", caSettle.String())
			s.waiting = crt
		}
	}
	if !s.isReady && verifies(served, trusted, s.now()) {
		s.isReady = true
		close(s.ready)
	}
	return nil
}

func (s *certSync) writeFiles(crt, key []byte) error {
	// The key first, then the certificate, each written then renamed, so that the watcher never
	// reads half a file; it keeps the old pair until the two match.
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", key}, {"tls.crt", crt}} {
		path := filepath.Join(s.dir, f.name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	s.log.Info("serving certificate written", "dir", s.dir)
	return nil
}
