//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// Requests straight to one replica's webhook port, past the API server and the proxy, as a client
// inside the cluster network could send them.

// replicaClient is an HTTPS client that trusts the CA in the certificate Secret, as the API server
// trusts the bundle, and names localhost as the API server does.
func replicaClient(t *testing.T) *http.Client {
	t.Helper()
	c, err := newReplicaClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newReplicaClient(ctx context.Context) (*http.Client, error) {
	var s corev1.Secret
	if err := env.Client.Get(ctx, certSecret, &s); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		return nil, errors.New("the certificate Secret has no usable CA")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}}, nil
}

// postReview posts body to a replica's workload webhook and returns the status and the response.
func postReview(c *http.Client, s *cluster.Sealgate, body []byte) (int, []byte, error) {
	resp, err := c.Post("https://127.0.0.1:"+strconv.Itoa(s.Port)+webhookconfig.WorkloadPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// Read whole up to a size no response should come near, so that a test can see how large it is.
	out, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, out, err
}

// reviewOf is the AdmissionReview the API server sends to create p.
func reviewOf(p *corev1.Pod) ([]byte, types.UID, error) {
	p = p.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, "", err
	}
	uid := types.UID("faults-" + strconv.FormatInt(time.Now().UnixNano(), 10))
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: uid,
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:     p.Name, Namespace: p.Namespace, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw}},
	})
	return body, uid, err
}

// replicaVerdict asks one replica directly whether it admits p.
func replicaVerdict(c *http.Client, s *cluster.Sealgate, p *corev1.Pod) (bool, error) {
	body, uid, err := reviewOf(p)
	if err != nil {
		return false, err
	}
	code, out, err := postReview(c, s, body)
	if err != nil {
		return false, err
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &r); err != nil || r.Response == nil || r.Response.UID != uid {
		return false, fmt.Errorf("HTTP %d: no answer for the request: %.200s", code, out)
	}
	return r.Response.Allowed, nil
}
