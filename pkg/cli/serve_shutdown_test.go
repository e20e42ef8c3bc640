package cli

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// outcome is one request of the load generator.
type outcome struct {
	start  time.Time
	err    error
	status int
	closed bool // the response carried Connection: close
}

// A load generator keeps 20 keep-alive connections busy through SIGTERM (ctx cancellation) with
// --shutdown-delay: not one request fails, readiness fails at once, every response from then on
// closes its connection (the client opens its next one elsewhere, as a Service would route it), and
// serve drains and exits.
func TestServeShutdownUnderLoad(t *testing.T) {
	s := startHardenedServe(t, "--shutdown-delay", "4s", "--shutdown-grace", "10s")
	const conns = 20
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	defer client.CloseIdleConnections()
	review := serveReview(t, serveContainer("app", "registry.example.com/team/app:1.2.3"))

	var (
		mu       sync.Mutex
		outcomes []outcome
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{start: time.Now()}
				r, err := client.Post(s.url(), "application/json", bytes.NewReader(review))
				if err == nil {
					_, err = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					o.status, o.closed = r.StatusCode, r.Close
				}
				o.err = err
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // every connection busy
	s.cancel()
	var flipped time.Time
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if !s.ready() {
			flipped = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness did not fail within 3s of SIGTERM")
		}
	}
	// Keep the load on for a while within the delay: endpoints take that long to drop the replica.
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	var failed, afterFlip, closedAfterFlip, beforeCancel int
	for _, o := range outcomes {
		if o.err != nil || o.status != http.StatusOK {
			failed++
			if failed <= 5 {
				t.Errorf("request failed: HTTP %d, %v", o.status, o.err)
			}
		}
		if o.start.After(flipped) {
			afterFlip++
			if o.closed {
				closedAfterFlip++
			}
		} else {
			beforeCancel++
		}
	}
	t.Logf("%d requests: %d before readiness failed, %d after (%d closed their connection), %d failed",
		len(outcomes), beforeCancel, afterFlip, closedAfterFlip, failed)
	if afterFlip == 0 || closedAfterFlip != afterFlip {
		t.Errorf("%d of %d responses after readiness failed carried Connection: close, want all (and some)", closedAfterFlip, afterFlip)
	}
	if code := s.stop(t, 20*time.Second); code != ExitOK {
		t.Errorf("serve exited %d, want 0; stderr:\n%s", code, s.stderr.String())
	}
}

// --shutdown-grace bounds the drain in file mode too: a request whose body does not come is cut when
// the grace runs out, before its read deadline (10 s), and serve says so.
func TestServeShutdownGraceInFileMode(t *testing.T) {
	s := startHardenedServe(t, "--shutdown-grace", "1s")
	if _, err := s.holdBody(t, 1000, 1); err != nil {
		t.Fatal(err)
	}
	// The held request has reached the handler once the in-flight gauge says so.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m := scrapeServeMetrics(t, "http://"+s.mx+"/metrics")
		if m[`controller_runtime_webhook_requests_in_flight{webhook="/validate"}`] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held request did not reach the handler within 10s")
		}
	}
	// Without the grace, the drain would wait for the body until its read deadline, or longer.
	code := s.stop(t, 8*time.Second)
	if code != ExitUsage || !strings.Contains(s.stderr.String(), "shutdown grace (1s)") {
		t.Errorf("serve exited %d, want 2 naming the shutdown grace; stderr:\n%s", code, s.stderr.String())
	}
}
