//go:build faults

package faults

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/test/cluster"
)

// Requests straight to one replica's webhook port, past the API server and the proxy, as a client
// inside the cluster network could send them.

// replicaClient is an HTTPS client that trusts what the API server trusts.
func replicaClient(t *testing.T) *http.Client {
	t.Helper()
	c, err := env.WebhookClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// podReview is the AdmissionReview the API server sends to create p.
func podReview(p *corev1.Pod) ([]byte, types.UID, error) {
	p = p.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	return cluster.CreateReview(p.Namespace, p)
}

// replicaVerdict asks one replica directly whether it admits p.
func replicaVerdict(c *http.Client, s *cluster.Sealgate, p *corev1.Pod) (bool, error) {
	p = p.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	r, err := s.Review(c, p.Namespace, p)
	if err != nil {
		return false, err
	}
	return r.Allowed, nil
}
