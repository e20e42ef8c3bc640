// Command rego is a benchmark peer of `make bench-e2e`: a validating webhook that evaluates the Pod
// Security Standards (restricted, which includes baseline) written in Rego (pss.rego) with OPA, the
// way an OPA or Gatekeeper deployment would: the whole AdmissionReview is the input document, and
// every deny message is one violation. It lives in its own Go module so that sealgate's go.mod does
// not gain OPA.
//
//	rego -addr 127.0.0.1:9443 -cert tls.crt -key tls.key
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

//go:embed pss.rego
var policy string

// maxBody bounds a request body, like the API server's 3 MiB object limit plus the envelope.
const maxBody = 4 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "address to listen on (HTTPS)")
	cert := flag.String("cert", "tls.crt", "PEM serving certificate")
	key := flag.String("key", "tls.key", "PEM private key")
	flag.Parse()

	query, err := rego.New(
		rego.Query("deny := data.pss.deny; uid := input.request.uid"),
		rego.Module("pss.rego", policy),
	).PrepareForEval(context.Background())
	if err != nil {
		log.Fatalf("rego: compiling pss.rego: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.Handle("POST /validate", &handler{query: query})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Printf("rego: serving on https://%s/validate", *addr)
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("rego: %v", err)
	}
}

type handler struct{ query rego.PreparedEvalQuery }

type status struct {
	Code    int32  `json:"code"`
	Message string `json:"message"`
}

type response struct {
	UID     string  `json:"uid"`
	Allowed bool    `json:"allowed"`
	Status  *status `json:"status,omitempty"`
}

type review struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Response   response `json:"response"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	input, err := ast.ValueFromReader(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading the AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	rs, err := h.query.Eval(r.Context(), rego.EvalParsedInput(input))
	if err != nil || len(rs) != 1 {
		http.Error(w, fmt.Sprintf("evaluating pss.rego: %v (%d results)", err, len(rs)), http.StatusInternalServerError)
		return
	}
	uid, _ := rs[0].Bindings["uid"].(string)
	resp := response{UID: uid, Allowed: true}
	if deny, _ := rs[0].Bindings["deny"].([]any); len(deny) > 0 {
		msgs := make([]string, 0, len(deny))
		for _, d := range deny {
			msgs = append(msgs, fmt.Sprint(d))
		}
		sort.Strings(msgs)
		resp.Allowed = false
		resp.Status = &status{Code: http.StatusForbidden, Message: "denied by pss.rego:\n- " + strings.Join(msgs, "\n- ")}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review{Kind: "AdmissionReview", APIVersion: "admission.k8s.io/v1", Response: resp})
}
