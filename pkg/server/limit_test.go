package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// holder is a raw HTTPS request whose headers are sent and whose body is held back.
type holder struct {
	conn *tls.Conn
	rest string
}

// hold sends a POST with the given Content-Length (-1: chunked) and the first byte of its body.
func hold(t *testing.T, ts *testServer, length int) *holder {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.opts.Addr, &tls.Config{RootCAs: ts.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "POST /validate HTTP/1.1\r\nHost: sealgate\r\nContent-Type: application/json\r\n"
	h := &holder{conn: conn}
	if length < 0 {
		head += "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
		h.rest = "1\r\n}\r\n0\r\n\r\n"
	} else {
		head += fmt.Sprintf("Content-Length: %d\r\n\r\n{", length)
		h.rest = strings.Repeat(" ", length-2) + "}"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return h
}

// finish sends the rest of the body and returns the response status.
func (h *holder) finish(t *testing.T) int {
	t.Helper()
	if _, err := io.WriteString(h.conn, h.rest); err != nil {
		t.Fatal(err)
	}
	_ = h.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

// entered is a handler that signals when a request reached it, then reads the whole body.
func entered(ch chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- struct{}{}
		readAll(w, r)
	})
}

func post(t *testing.T, c *http.Client, url string, body io.Reader) (int, string) {
	t.Helper()
	r, err := c.Post(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// Past the limit on requests in flight, a request is answered 429 at once, not queued; a slot
// freed serves the next one.
func TestInFlightLimit(t *testing.T) {
	in := make(chan struct{}, 16)
	ts := startServer(t, entered(in), func(o *Options) { o.MaxInFlight = 3; o.MaxLargeInFlight = 1 })
	c := ts.client(1)
	defer c.CloseIdleConnections()

	var held []*holder
	for range 3 {
		held = append(held, hold(t, ts, 100))
		<-in
	}
	code, msg := post(t, c, ts.url(), strings.NewReader("{}"))
	if code != http.StatusTooManyRequests || !strings.Contains(msg, "already answering 3 admission requests") {
		t.Errorf("with every slot held: HTTP %d %q, want 429 naming the limit", code, msg)
	}
	if n := ts.rec.get("in_flight"); n != 1 {
		t.Errorf("in_flight rejections counted: %d, want 1", n)
	}
	if code := held[0].finish(t); code != http.StatusOK {
		t.Errorf("held request: HTTP %d, want 200", code)
	}
	go func() { <-in }()
	if code, msg := post(t, c, ts.url(), strings.NewReader("{}")); code != http.StatusOK {
		t.Errorf("after a slot was freed: HTTP %d %q, want 200", code, msg)
	}
}

// Requests with a body over LargeBodyBytes, or of unknown length, also need a large slot; small
// requests still get through while the large slots are taken.
func TestLargeInFlightLimit(t *testing.T) {
	in := make(chan struct{}, 16)
	ts := startServer(t, entered(in), func(o *Options) { o.MaxInFlight = 8; o.MaxLargeInFlight = 1 })
	c := ts.client(1)
	defer c.CloseIdleConnections()

	big := hold(t, ts, LargeBodyBytes+1)
	<-in
	for _, length := range []int{LargeBodyBytes + 1, -1} {
		h := hold(t, ts, length)
		_ = h.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		r, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
		if err != nil {
			t.Fatalf("length %d: %v", length, err)
		}
		msg, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(msg), "over 1048576 bytes") {
			t.Errorf("large request (length %d) with the large slot held: HTTP %d %q, want 429", length, r.StatusCode, msg)
		}
	}
	if n := ts.rec.get("large_in_flight"); n != 2 {
		t.Errorf("large_in_flight rejections counted: %d, want 2", n)
	}
	go func() { <-in }()
	if code, msg := post(t, c, ts.url(), strings.NewReader(`{"small":true}`)); code != http.StatusOK {
		t.Errorf("small request with the large slot held: HTTP %d %q, want 200", code, msg)
	}
	if code := big.finish(t); code != http.StatusOK {
		t.Errorf("held large request: HTTP %d, want 200", code)
	}
}

// A body sent a byte at a time is cut by the read deadline; it no longer holds its slot forever.
func TestReadTimeoutCutsSlowBody(t *testing.T) {
	readErr := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	ts := startServer(t, h, func(o *Options) {
		o.ReadTimeout, o.ReadHeaderTimeout, o.MaxInFlight, o.MaxLargeInFlight = 500*time.Millisecond, 500*time.Millisecond, 1, 1
	})
	slow := hold(t, ts, 1000)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// One byte every 50 ms: the 1000-byte body would take 50 s.
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := slow.conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	var err error
	select {
	case err = <-readErr:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow body was not cut within 20s")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("reading the slow body: %v, want a timeout", err)
	}
	// Its slot is free again, once the handler that reported the timeout has returned.
	c := ts.client(1)
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, msg := post(t, c, ts.url(), strings.NewReader("{}"))
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the slow body was cut: HTTP %d %q, want 200", code, msg)
		}
	}
}

// A panic in a handler is answered 500 and counted, and the connection is not reset.
func TestPanicRecovered(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") }), nil)
	c := ts.client(1)
	defer c.CloseIdleConnections()
	code, _ := post(t, c, ts.url(), strings.NewReader("{}"))
	if code != http.StatusInternalServerError || ts.rec.panics != 1 {
		t.Errorf("HTTP %d, panics %d; want 500 and 1", code, ts.rec.panics)
	}
	if !strings.Contains(ts.logs.String(), "recovered a panic while serving a request") {
		t.Errorf("panic not logged:\n%s", ts.logs)
	}
}
