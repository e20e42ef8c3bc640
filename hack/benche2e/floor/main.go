// Command floor is the floor of `make bench-e2e`: a TLS server that reads each request body fully
// and answers with a fixed, allowed AdmissionReview without decoding anything. No webhook can be
// faster over the same TLS and HTTP stack, so the others' figures are read as ratios to it.
//
//	floor -addr 127.0.0.1:9443 -cert tls.crt -key tls.key
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"time"
)

// answer is the fixed response; its uid matches no request, which only a direct client accepts.
var answer = []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}`)

// maxBody bounds a request body, like the API server's object limit plus the envelope.
const maxBody = 4 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "address to listen on (HTTPS)")
	cert := flag.String("cert", "tls.crt", "PEM serving certificate")
	key := flag.String("key", "tls.key", "PEM private key")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("floor: %v", err)
	}
}
