package cluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The CA bundle of the webhook configuration, kept so that a CA is replaced without a failed
// admission: the new CA goes in beside the replaced ones (certs.go explains the order).

// syncBundle writes the CA bundle that planBundle gives into every webhook of the configuration,
// and returns the CAs it holds; found is false if there is no configuration to keep.
func (s *certSync) syncBundle(ctx context.Context, caPEM []byte, cas []*x509.Certificate) ([]*x509.Certificate, bool, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := s.client.Get(ctx, client.ObjectKey{Name: s.webhook}, &vwc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("reading webhook configuration %s: %w", s.webhook, err)
	}
	var have []*x509.Certificate
	for _, w := range vwc.Webhooks {
		certs, _ := parseCerts(w.ClientConfig.CABundle) // what does not parse is dropped
		have = appendNew(have, certs...)
	}
	now := s.now()
	if !s.looked {
		s.firstLook(cas, have, vwc.Annotations[previousCAsUntilAnnotation], now)
	}
	keep, until := planBundle(cas, have, vwc.Annotations[previousCAsUntilAnnotation], now)
	want := bytes.TrimSpace(caPEM)
	want = append(want[:len(want):len(want)], '\n')
	for _, c := range keep {
		want = append(want, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	changed := vwc.Annotations[previousCAsUntilAnnotation] != until
	for _, w := range vwc.Webhooks {
		changed = changed || !bytes.Equal(w.ClientConfig.CABundle, want)
	}
	bundle := append(append([]*x509.Certificate(nil), cas...), keep...)
	if !changed {
		s.remember(bundle, now)
		return bundle, true, nil
	}
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.CABundle = want
	}
	if until == "" {
		delete(vwc.Annotations, previousCAsUntilAnnotation)
	} else {
		metav1.SetMetaDataAnnotation(&vwc.ObjectMeta, previousCAsUntilAnnotation, until)
	}
	// A conflict means another replica wrote first; the next sync reads what it wrote.
	if err := s.client.Update(ctx, &vwc, client.FieldOwner("sealgate")); err != nil {
		return nil, false, fmt.Errorf("updating the CA bundle of %s: %w", s.webhook, err)
	}
	s.log.Info("CA bundle updated", "webhookConfiguration", s.webhook, "cas", len(bundle), "previousUntil", until)
	s.remember(bundle, now)
	return bundle, true, nil
}

// planBundle decides which replaced CAs (have, less cas) the bundle keeps after the Secret's cas,
// and the previousCAsUntilAnnotation value. A bundle that does not begin with cas has just met a new
// CA: the others stay for caOverlap from now. One that does keeps them until the annotation's time.
// Expired CAs are dropped at once.
func planBundle(cas, have []*x509.Certificate, until string, now time.Time) ([]*x509.Certificate, string) {
	var others []*x509.Certificate
	for _, c := range have {
		if !containsCert(cas, c) && now.Before(c.NotAfter) && len(others) < maxPreviousCAs {
			others = append(others, c)
		}
	}
	if len(others) == 0 {
		return nil, ""
	}
	led := len(have) >= len(cas)
	for i := 0; led && i < len(cas); i++ {
		led = have[i].Equal(cas[i])
	}
	if !led {
		return others, now.Add(caOverlap).UTC().Format(time.RFC3339)
	}
	t, err := time.Parse(time.RFC3339, until)
	if err != nil || !now.Before(t) {
		return nil, ""
	}
	return others, until
}

// firstLook records the CAs in the bundle before this process touched it. They count as settled:
// the API server had them before this process started; except the CAs that lead a bundle still
// keeping replaced ones, which came in when the annotation's overlap began.
func (s *certSync) firstLook(cas, have []*x509.Certificate, until string, now time.Time) {
	s.looked = true
	for _, c := range have {
		s.seen[string(c.Raw)] = now.Add(-caSettle)
	}
	if t, err := time.Parse(time.RFC3339, until); err == nil {
		for _, c := range cas {
			if _, ok := s.seen[string(c.Raw)]; ok {
				s.seen[string(c.Raw)] = t.Add(-caOverlap)
			}
		}
	}
}

// remember records when this replica first saw each CA of the bundle, and forgets the CAs that left.
func (s *certSync) remember(bundle []*x509.Certificate, now time.Time) {
	seen := make(map[string]time.Time, len(bundle))
	for _, c := range bundle {
		at, ok := s.seen[string(c.Raw)]
		if !ok {
			at = now
		}
		seen[string(c.Raw)] = at
	}
	s.seen = seen
}

// settled returns the CAs of the bundle seen for at least caSettle.
func (s *certSync) settled(bundle []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range bundle {
		if at, ok := s.seen[string(c.Raw)]; ok && !s.now().Before(at.Add(caSettle)) {
			out = append(out, c)
		}
	}
	return out
}

// verifies reports whether the leaf certificate in crtPEM chains to one of roots.
func verifies(crtPEM []byte, roots []*x509.Certificate, now time.Time) bool {
	certs, err := parseCerts(crtPEM)
	if err != nil || len(certs) == 0 || len(roots) == 0 {
		return false
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

// parseCerts reads every CERTIFICATE block of a PEM bundle.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return out, fmt.Errorf("parsing a certificate: %w", err)
		}
		out = append(out, c)
	}
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, l := range list {
		if l.Equal(c) {
			return true
		}
	}
	return false
}

func appendNew(list []*x509.Certificate, certs ...*x509.Certificate) []*x509.Certificate {
	for _, c := range certs {
		if !containsCert(list, c) {
			list = append(list, c)
		}
	}
	return list
}
