package cluster

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
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// Reviews posted straight to one replica's webhook port, past the API server, as the API server (or
// a client inside the cluster network) sends them.

// WebhookClient is an HTTPS client that trusts the CA bundle of the webhook configuration, as the
// API server does, and names the replicas' certificate by localhost, as a webhook registered at
// https://localhost:<port> is named.
func (c *Cluster) WebhookClient(ctx context.Context) (*http.Client, error) {
	vwc := webhookconfig.Empty()
	if err := c.Client.Get(ctx, client.ObjectKey{Name: webhookConfigName}, vwc); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if len(vwc.Webhooks) == 0 || !pool.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle) {
		return nil, errors.New("the webhook configuration has no usable CA bundle")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}}, nil
}

var reviews atomic.Int64

// CreateReview is the AdmissionReview the API server sends to create obj (which names its
// apiVersion and kind) in namespace ns, with a uid of its own.
func CreateReview(ns string, obj runtime.Object) ([]byte, types.UID, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, "", err
	}
	var meta struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &meta)
	gvk := obj.GetObjectKind().GroupVersionKind()
	uid := types.UID("review-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.FormatInt(reviews.Add(1), 10))
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: uid,
			Kind:     metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:     meta.Metadata.Name, Namespace: ns, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw}},
	})
	return body, uid, err
}

// Post posts body to the replica's workload webhook and returns the HTTP status and the whole answer
// (up to a size no answer should come near, so that a test sees how large it is).
func (s *Sealgate) Post(hc *http.Client, body []byte) (int, []byte, error) {
	resp, err := hc.Post("https://127.0.0.1:"+strconv.Itoa(s.Port)+webhookconfig.WorkloadPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, out, err
}

// Review asks the replica for its verdict on creating obj in namespace ns: the response for the
// review's uid, or an error if none came.
func (s *Sealgate) Review(hc *http.Client, ns string, obj runtime.Object) (*admissionv1.AdmissionResponse, error) {
	body, uid, err := CreateReview(ns, obj)
	if err != nil {
		return nil, err
	}
	code, out, err := s.Post(hc, body)
	if err != nil {
		return nil, err
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &r); err != nil || r.Response == nil || r.Response.UID != uid {
		return nil, fmt.Errorf("HTTP %d: no answer for the request: %.200s", code, out)
	}
	return r.Response, nil
}
