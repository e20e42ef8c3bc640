//go:build integration

package integration

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/client-go/rest"
)

// faultProxy forwards plain HTTP on loopback to the API server, authenticated as the envtest admin.
// Partition makes it refuse every read of Namespace objects (list, watch, get) with 503 and cut the
// namespace watches in flight; everything else passes.
type faultProxy struct {
	Addr string

	srv         *http.Server
	rp          *httputil.ReverseProxy
	mu          sync.Mutex
	partitioned bool
	inflight    map[*int]context.CancelFunc
	refused     atomic.Int64
	leasesCut   atomic.Bool
}

func startFaultProxy(cfg *rest.Config) (*faultProxy, error) {
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	target, err := url.Parse(host)
	if err != nil {
		return nil, err
	}
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{Addr: ln.Addr().String(), inflight: map[*int]context.CancelFunc{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:     tr,
		FlushInterval: -1, // watch events pass at once
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: p}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// namespaceRead reports whether a request reads Namespace objects: /api/v1/namespaces or
// /api/v1/namespaces/NAME, not the objects inside a namespace.
func namespaceRead(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	if p == "/api/v1/namespaces" {
		return true
	}
	name, ok := strings.CutPrefix(p, "/api/v1/namespaces/")
	return ok && name != "" && !strings.Contains(name, "/")
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/apis/coordination.k8s.io/") && p.leasesCut.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",`+
			`"message":"leases are partitioned by the integration test","reason":"ServiceUnavailable","code":503}`)
		return
	}
	if namespaceRead(r) {
		p.mu.Lock()
		if p.partitioned {
			p.mu.Unlock()
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",`+
				`"message":"namespace reads are partitioned by the integration test","reason":"ServiceUnavailable","code":503}`)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		key := new(int)
		p.inflight[key] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.inflight, key)
			p.mu.Unlock()
			cancel()
		}()
		r = r.WithContext(ctx)
	}
	// A cut watch ends in the reverse proxy's http.ErrAbortHandler panic, which the server absorbs
	// by closing the connection: to sealgate, the API server went away mid-stream.
	p.rp.ServeHTTP(w, r)
}

// Partition refuses namespace reads from now on and cuts the namespace watches in flight, so
// sealgate's informer stops seeing namespace changes and its live lookups fail.
func (p *faultProxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = true
	for _, cancel := range p.inflight {
		cancel()
	}
}

// Heal lets namespace reads through again.
func (p *faultProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = false
}

// CutLeases refuses every Lease request (the leader election's) while cut is true: a leader behind
// the proxy cannot renew its Lease, as in an API server or etcd outage.
func (p *faultProxy) CutLeases(cut bool) { p.leasesCut.Store(cut) }

// Refused counts the namespace reads refused so far.
func (p *faultProxy) Refused() int64 { return p.refused.Load() }

func (p *faultProxy) Close() error { return p.srv.Close() }
