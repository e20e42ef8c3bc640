package verify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// errTooLarge is returned when a registry response is larger than Options.MaxResponseBytes.
var errTooLarge = errors.New("oversized or malformed signature data: a registry response exceeded sealgate's size limit")

// maxIdleConnsPerRegistry is how many idle connections to one registry are kept for reuse.
const maxIdleConnsPerRegistry = 32

// guard is the RoundTripper under every registry call. Registries are hostile input, so it is the
// one place that enforces, for every request including redirects: HTTPS unless the host is listed as
// insecure, a deadline per call, a bound on the bytes read, and the latency metric.
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	timeout  time.Duration
	maxBytes int64
	metrics  metrics.SignatureRecorder
}

func newTransport(o *Options) *guard {
	base := o.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs}
		t.ResponseHeaderTimeout = o.RegistryTimeout
		// Concurrent admissions verify many images of the same few registries at once; net/http's
		// default keeps two idle connections per host and closes the rest, so every burst paid a new
		// TLS handshake per request beyond two. MaxIdleConns (100) and IdleConnTimeout still bound them.
		t.MaxIdleConnsPerHost = maxIdleConnsPerRegistry
		base = t
	}
	ins := make(map[string]bool, len(o.InsecureRegistries))
	for _, h := range o.InsecureRegistries {
		ins[h] = true
	}
	return &guard{base: base, insecure: ins, timeout: o.RegistryTimeout, maxBytes: o.MaxResponseBytes, metrics: o.Metrics}
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !g.insecure[req.URL.Host] {
		// go-containerregistry falls back to plain HTTP for loopback and private addresses; sealgate
		// does not, unless the operator listed the registry.
		return nil, fmt.Errorf("refusing plain HTTP to %s: registries must use HTTPS unless listed with --insecure-registry", req.URL.Host)
	}
	ctx, cancel := context.WithTimeout(req.Context(), g.timeout)
	start := time.Now()
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	elapsed := time.Since(start)
	if err != nil {
		cancel()
		g.metrics.RegistryRequest("error", elapsed)
		if errors.Is(err, context.DeadlineExceeded) && req.Context().Err() == nil {
			return nil, fmt.Errorf("registry %s did not answer within %s", req.URL.Host, g.timeout)
		}
		return nil, err
	}
	g.metrics.RegistryRequest(strconv.Itoa(resp.StatusCode/100)+"xx", elapsed)
	resp.Body = &limitedBody{rc: resp.Body, left: g.maxBytes, cancel: cancel, host: req.URL.Host, timeout: g.timeout, ctx: ctx}
	return resp, nil
}

// limitedBody fails a read past the limit, and releases the call's deadline when closed.
type limitedBody struct {
	rc      io.ReadCloser
	left    int64
	cancel  context.CancelFunc
	ctx     context.Context
	host    string
	timeout time.Duration
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) && errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("registry %s did not finish sending within %s: %w", b.host, b.timeout, err)
	}
	return n, err
}

func (b *limitedBody) Close() error {
	b.cancel()
	return b.rc.Close()
}
