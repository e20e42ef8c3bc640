// Command floor is the floor of `make bench-e2e`: a TLS server that reads each request body fully
// and answers allowed without decoding anything: it copies the first "uid" value of the body (the
// request's, which the API server writes first) into a fixed AdmissionReview. No webhook can be
// faster over the same TLS and HTTP stack, so the others' figures are read as ratios to it, and
// through the API server it is what calling any webhook costs.
//
// With -validate it also checks that the body is one valid JSON value, with jsontext and the options
// sealgate's decoder uses (duplicate names allowed, invalid UTF-8 replaced as the API server does),
// and answers 400 otherwise: the least any webhook that reads its input as JSON must spend.
//
//	floor -addr 127.0.0.1:9443 -cert tls.crt -key tls.key [-validate]
package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The response is head, the request's uid, tail.
var (
	head   = []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"`)
	tail   = []byte(`","allowed":true}}`)
	uidKey = []byte(`"uid":"`)
)

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decoders are the -validate decoders, reused as sealgate reuses its own.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// jsonOptions are the syntax options of sealgate's decoder (workload.Options).
var jsonOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// maxBody bounds a request body, like the API server's object limit plus the envelope.
const maxBody = 4 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "address to listen on (HTTPS)")
	cert := flag.String("cert", "tls.crt", "PEM serving certificate")
	key := flag.String("key", "tls.key", "PEM private key")
	validate := flag.Bool("validate", false, "check that each body is one valid JSON value before answering")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, r *http.Request) {
		buf := buffers.Get().(*bytes.Buffer)
		defer buffers.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if *validate {
			if err := valid(buf.Bytes()); err != nil {
				http.Error(w, "the body is not one JSON value: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		out, ok := answer(buf.Bytes())
		if !ok {
			http.Error(w, "no uid in the body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	// HTTP/1.1 only, as sealgate serves and as the API server calls every webhook behind a Service (it
	// speaks HTTP/2 only to URL webhooks on loopback, which would make this floor's row incomparable).
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, Protocols: protocols}
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("floor: %v", err)
	}
}

// answer is the allowed AdmissionReview for body: the first "uid" value of the body (the request's,
// which the API server writes before the object) between head and tail. It reports false when the
// body has no such value of at most 64 bytes.
func answer(body []byte) ([]byte, bool) {
	i := bytes.Index(body, uidKey)
	if i < 0 {
		return nil, false
	}
	uid := body[i+len(uidKey):]
	n := bytes.IndexByte(uid, '"')
	if n < 0 || n > 64 {
		return nil, false
	}
	out := make([]byte, 0, len(head)+n+len(tail))
	return append(append(append(out, head...), uid[:n]...), tail...), true
}

// valid reports whether body is exactly one valid JSON value: scanned in full, nothing after it.
func valid(body []byte) error {
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewBuffer(body), jsonOptions...) // a Buffer is scanned in place, as sealgate does
	if _, err := dec.ReadValue(); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("data after the first value")
	}
	return nil
}
