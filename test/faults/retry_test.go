//go:build faults

package faults

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

// A replica whose admission slots are all held answers 429 with Retry-After at once, and the API
// server's webhook client (client-go) retries that answer: an admission made while the slots are
// held succeeds once they free, within the webhook's timeout. The docs (cli.md, Limits) rely on it.
func TestInFlightLimitIsRetried(t *testing.T) {
	f := newFleet(t)
	s := f.start("busy", "--max-requests-in-flight", "2", "--max-large-requests-in-flight", "1")
	hc := replicaClient(t)
	tlsCfg := hc.Transport.(*http.Transport).TLSClientConfig

	// Two requests whose bodies never finish hold both slots.
	var held []*tls.Conn
	for range 2 {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	cluster.Eventually(t, 10*time.Second, "both slots held", func() (bool, string) {
		code, _, err := s.Post(hc, []byte("{}"))
		return err == nil && code == http.StatusTooManyRequests, fmt.Sprintf("HTTP %d, %v", code, err)
	})
	before := refused(t, s)

	// An admission through the API server meanwhile; the slots free 2.5 s later.
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- verdict(ctx, pod(nsEnforce, "while-busy", false))
	}()
	time.Sleep(2500 * time.Millisecond)
	for _, c := range held {
		_ = c.Close()
	}
	if err := <-done; err != nil {
		t.Fatalf("the admission made while every slot was held failed: %v", err)
	}
	took := time.Since(start)
	retried := refused(t, s) - before
	if retried < 1 {
		t.Fatal("sealgate refused none of the API server's calls: the admission never met the limit")
	}
	figure(t, "every slot held for 2.5 s: the admission answered after %d ms, %v calls refused with 429 and retried", took.Milliseconds(), retried)
}

// refused is how many requests the replica has answered 429 for lack of a slot.
func refused(t *testing.T, s *cluster.Sealgate) float64 {
	t.Helper()
	text, err := s.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	n, err := cluster.SumSamples(text, "sealgate_admission_rejected_total", map[string]string{"reason": "in_flight"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
