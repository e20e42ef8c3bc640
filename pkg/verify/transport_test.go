package verify

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTransportKeepsConnectionsOfConcurrentVerifications: admissions verify many images of one
// registry at once. Connections that were in use together are kept for the next burst, rather than
// closed down to net/http's default of two idle connections per host and opened again, each with a
// new TLS handshake.
func TestTransportKeepsConnectionsOfConcurrentVerifications(t *testing.T) {
	const burst = 16
	var (
		conns   atomic.Int32
		arrived sync.WaitGroup
		release chan struct{}
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Every request of a burst is in flight at once, so each holds a connection of its own.
		arrived.Done()
		<-release
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()

	o := Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	o.defaults()
	client := &http.Client{Transport: newTransport(&o)}
	fire := func() {
		release = make(chan struct{})
		arrived.Add(burst)
		var done sync.WaitGroup
		for range burst {
			done.Go(func() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		arrived.Wait()
		close(release)
		done.Wait()
	}
	fire()
	if n := conns.Load(); n != burst {
		t.Fatalf("first burst: %d connections, want %d", n, burst)
	}
	fire()
	if n := conns.Load() - burst; n != 0 {
		t.Errorf("second burst opened %d new connections (TLS handshakes), want 0: idle connections to the registry were closed", n)
	}
}
