package cluster

import (
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ProxyPollInterval is how often the ServiceProxy reads each backend's /readyz, about as quickly as
// endpoints follow a pod's readiness in a cluster.
const ProxyPollInterval = 200 * time.Millisecond

// ServiceProxy stands in for the Service in front of sealgate's replicas: a TCP proxy on loopback
// that sends each new connection to a backend whose /readyz passed at the last poll (round robin),
// and leaves existing connections alone when a backend turns unready, as kube-proxy does. It neither
// retries nor falls back: a connection sent to a backend that has just died fails, as in a cluster.
// The webhook configuration points at it (URL); TLS passes through to sealgate.
type ServiceProxy struct {
	// Addr is 127.0.0.1:<port>.
	Addr string

	ln     net.Listener
	stop   chan struct{}
	wg     sync.WaitGroup
	health *http.Client

	mu       sync.Mutex
	backends map[string]*backend
	next     int

	accepted, refused atomic.Int64
}

type backend struct {
	name, addr, health string
	ready              atomic.Bool
	active             atomic.Int64
}

// StartServiceProxy listens on a free loopback port and starts polling readiness.
func StartServiceProxy() (*ServiceProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &ServiceProxy{Addr: ln.Addr().String(), ln: ln, stop: make(chan struct{}),
		health:   &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		backends: map[string]*backend{}}
	p.wg.Add(2)
	go p.accept()
	go p.poll()
	return p, nil
}

// URL is the webhook base URL to register: the serving certificate covers localhost.
func (p *ServiceProxy) URL() string {
	_, port, _ := net.SplitHostPort(p.Addr)
	return "https://localhost:" + port
}

// Add puts a replica behind the proxy under name. It gets connections once a poll finds it ready.
func (p *ServiceProxy) Add(name string, s *Sealgate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends[name] = &backend{name: name, addr: "127.0.0.1:" + strconv.Itoa(s.Port), health: s.HealthAddr}
}

// Remove takes a replica out of the rotation; its open connections are left alone.
func (p *ServiceProxy) Remove(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.backends, name)
}

// Ready lists the names of the backends that passed the last poll, sorted.
func (p *ServiceProxy) Ready() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name, b := range p.backends {
		if b.ready.Load() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Active is the number of connections open through the proxy to backend name.
func (p *ServiceProxy) Active(name string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.backends[name]; b != nil {
		return b.active.Load()
	}
	return 0
}

// Counts returns the connections accepted so far, and those closed at once for want of a ready
// backend.
func (p *ServiceProxy) Counts() (accepted, refused int64) {
	return p.accepted.Load(), p.refused.Load()
}

// Close stops accepting, cuts the connections in flight and waits for the proxy's goroutines.
func (p *ServiceProxy) Close() error {
	close(p.stop)
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *ServiceProxy) poll() {
	defer p.wg.Done()
	t := time.NewTicker(ProxyPollInterval)
	defer t.Stop()
	for {
		p.mu.Lock()
		bs := make([]*backend, 0, len(p.backends))
		for _, b := range p.backends {
			bs = append(bs, b)
		}
		p.mu.Unlock()
		for _, b := range bs {
			b.ready.Store(p.readyz(b.health))
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *ServiceProxy) readyz(addr string) bool {
	resp, err := p.health.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pick returns the next ready backend, round robin over the sorted names, or nil.
func (p *ServiceProxy) pick() *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ready []*backend
	for _, b := range p.backends {
		if b.ready.Load() {
			ready = append(ready, b)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].name < ready[j].name })
	p.next++
	return ready[p.next%len(ready)]
}

func (p *ServiceProxy) accept() {
	defer p.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		b := p.pick()
		if b == nil {
			p.refused.Add(1)
			c.Close()
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			p.relay(c, b)
		}()
	}
}

// relayLinger bounds how long one direction of a connection may stay open once the other has ended.
const relayLinger = 5 * time.Second

// relay copies bytes both ways. When one side stops sending, the other is told so (a half close), so
// that a response followed by the server's close reaches the client whole, as it would through
// kube-proxy; the connection ends when both directions have.
func (p *ServiceProxy) relay(front net.Conn, b *backend) {
	defer front.Close()
	back, err := net.DialTimeout("tcp", b.addr, 2*time.Second)
	if err != nil {
		return
	}
	defer back.Close()
	b.active.Add(1)
	defer b.active.Add(-1)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(back, front)
	go pipe(front, back)
	select {
	case <-done:
	case <-p.stop:
		return
	}
	// One direction ended; the other gets a little time to finish, then both are closed.
	deadline := time.Now().Add(relayLinger)
	_ = front.SetDeadline(deadline)
	_ = back.SetDeadline(deadline)
	select {
	case <-done:
	case <-p.stop:
	}
}
