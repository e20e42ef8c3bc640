//go:build faults

package faults

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

// The held-bodies attack: what the issue measured (40 connections declaring 7 MiB bodies took the
// process from 51 to 385 MiB; one sending a byte a second held its connection forever).
const (
	heldConns    = 40
	declaredBody = 7 << 20
	// A chunk every chunkEvery: 160 KiB/s, so that a whole body would take 45 s. Only the server can
	// end such a connection within the attack.
	chunkBytes = 16 << 10
	chunkEvery = 100 * time.Millisecond
	// attackFor is how long the attackers open new connections (each reconnects as soon as the
	// server ends its connection); giveUpAfter is when an attacker stops a connection the server
	// never ended: three times the read deadline, a bound on behaviour rather than a timing.
	attackFor   = 15 * time.Second
	giveUpAfter = 30 * time.Second
	// webhookMemoryBound is what the webhook may take under attack: half the chart's default memory
	// limit (512 MiB), the other half being the audit's caches, which grow with the cluster.
	webhookMemoryBound = 256 << 20
)

// heldResult is how one attacking connection ended.
type heldResult struct {
	status string        // the server's status line, or "" if it closed without one
	sent   int           // body bytes sent
	held   time.Duration // from connect to the end
	gaveUp bool          // the server never ended it
}

// (b) Forty connections straight to one replica's webhook port, each declaring a 7 MiB body and
// sending it slowly, reconnecting whenever the server ends one, while admissions run through the
// API server: the admissions all succeed, RSS stays under the chart's memory limit, and every slow
// connection is ended by the server (a 429 at once past the in-flight limit for large bodies, or
// the read deadline).
func TestHeldBodies(t *testing.T) {
	f := newFleet(t)
	s := f.start("held")
	if err := cluster.ResetPeak(s.Pid()); err != nil {
		t.Fatal(err)
	}
	before, err := cluster.ReadMemory(s.Pid())
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, 4, 5*time.Millisecond)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(secretData(t)["ca.crt"])
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}

	var (
		mu      sync.Mutex
		results []heldResult
		wg      sync.WaitGroup
	)
	stopAt := time.Now().Add(attackFor)
	for range heldConns {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				r := holdBody(s.Port, tlsCfg)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if !r.gaveUp && r.sent == 0 {
					// Refused at once: a short pause keeps the reconnects from taking the suite's
					// two cores, while the large-body slots stay full.
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	stats := l.Stop()
	after, err := cluster.ReadMemory(s.Pid())
	if err != nil {
		t.Fatalf("sealgate is gone: %v", err)
	}

	var rejected, cut, gaveUp, dialFailed int
	var cutHeld []time.Duration
	var cutSent int
	for _, r := range results {
		switch {
		case r.gaveUp:
			gaveUp++
		case r.status == "dial":
			dialFailed++
		case strings.HasPrefix(r.status, "HTTP/1.1 429 "):
			rejected++
		default:
			cut++
			cutHeld = append(cutHeld, r.held)
			cutSent += r.sent
		}
	}
	if gaveUp > 0 {
		t.Errorf("%d connections were still open %s after they began: the server did not end them", gaveUp, giveUpAfter)
	}
	if cut == 0 {
		t.Errorf("no connection was read and then cut: the attack did not reach the body reads (%d rejected)", rejected)
	}
	if after.Peak > webhookMemoryBound {
		t.Errorf("peak RSS %s, over the webhook's share (%s) of the chart's memory limit", cluster.MiB(after.Peak), cluster.MiB(webhookMemoryBound))
	}
	wantNothingLost(t, "admissions during the held bodies", stats)
	slices.Sort(cutHeld)
	median, avgSent := time.Duration(0), 0
	if cut > 0 {
		median, avgSent = cutHeld[cut/2], cutSent/cut
	}
	figure(t, "%d attackers, %d connections: %d refused at once (429), %d read then cut after %.1f s (median) having sent %.1f MiB on average, %d never ended, %d dials failed; "+
		"RSS %s before, peak %s (limit %s); %d admissions through the API server meanwhile, %d failed",
		heldConns, len(results), rejected, cut, median.Seconds(), float64(avgSent)/(1<<20), gaveUp, dialFailed,
		cluster.MiB(before.RSS), cluster.MiB(after.Peak), cluster.MiB(webhookMemoryBound), stats.Total(), stats.Failed)
}

// holdBody opens one connection, declares a 7 MiB review and sends it slowly until the server
// answers or closes, or giveUpAfter passes.
func holdBody(port int, cfg *tls.Config) heldResult {
	start := time.Now()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+strconv.Itoa(port), cfg)
	if err != nil {
		return heldResult{status: "dial"}
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(giveUpAfter))
	// The status line, "" if the server closed without one, or giveUp if our own deadline passed.
	const giveUp = "gave up"
	answered := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(conn).ReadString('\n')
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			answered <- giveUp
		case err != nil:
			answered <- ""
		default:
			answered <- line[:len(line)-2] // without CRLF
		}
	}()
	end := func(status string, sent int) heldResult {
		return heldResult{status: status, sent: sent, held: time.Since(start), gaveUp: status == giveUp}
	}
	head := fmt.Sprintf("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", declaredBody)
	if _, err := conn.Write([]byte(head)); err != nil {
		return end(<-answered, 0)
	}
	chunk := make([]byte, chunkBytes)
	for i := range chunk {
		chunk[i] = ' '
	}
	sent := 0
	t := time.NewTicker(chunkEvery)
	defer t.Stop()
	for sent < declaredBody {
		select {
		case status := <-answered:
			return end(status, sent)
		case <-t.C:
		}
		if _, err := conn.Write(chunk); err != nil {
			return end(<-answered, sent)
		}
		sent += len(chunk)
	}
	return end(<-answered, sent)
}
