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
	// Ready is closed once the certificate is in place and the CA bundle injected.
	Ready chan struct{}
}

// SetupCerts adds cert-controller's rotator to the manager: it creates a CA and a serving
// certificate in the Secret, rotates them before expiry and writes the CA bundle into the webhook
// configuration. A small syncer copies the Secret's certificate into CertDir, where the webhook
// server's certificate watcher reloads it without a restart.
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
		IsReady:        o.Ready,
		Webhooks:       []rotator.WebhookInfo{{Name: o.WebhookConfig, Type: rotator.Validating}},
		// Every replica serves, so every replica keeps its files and the bundle current.
		RequireLeaderElection: false,
		FieldOwner:            "sealgate",
	}
	if err := rotator.AddRotator(mgr, cr); err != nil {
		return fmt.Errorf("setting up certificate rotation: %w", err)
	}
	return mgr.Add(&certFileSync{client: live, secret: o.Secret, dir: o.CertDir, log: log})
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

// certFileSync copies tls.crt and tls.key from the Secret into the cert dir whenever they change. If
// the Secret is deleted it creates it again, empty: the rotator then fills it with a new CA and
// certificate and injects the CA bundle (it does nothing about a missing Secret by itself).
type certFileSync struct {
	client client.Client
	secret types.NamespacedName
	dir    string
	log    logr.Logger
}

// NeedLeaderElection: every replica needs its own files.
func (s *certFileSync) NeedLeaderElection() bool { return false }

func (s *certFileSync) Start(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if err := s.sync(ctx); err != nil {
			s.log.Error(err, "syncing serving certificate files")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *certFileSync) sync(ctx context.Context) error {
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
	crt, key := sec.Data["tls.crt"], sec.Data["tls.key"]
	if len(crt) == 0 || len(key) == 0 {
		return nil // the rotator has not filled it yet
	}
	changed := false
	for name, data := range map[string][]byte{"tls.key": key, "tls.crt": crt} {
		path := filepath.Join(s.dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		// Write then rename, so the watcher never reads half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		s.log.Info("serving certificate written", "dir", s.dir)
	}
	return nil
}
