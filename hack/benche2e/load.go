package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// maxResponse bounds what the load generator reads of one answer.
const maxResponse = 1 << 20

// round is what one timed round against one server at one concurrency measured.
type round struct {
	requests int
	errors   int // transport errors and non-200 answers
	wrong    int // answers whose verdict does not match the body
	elapsed  time.Duration
	cpu      time.Duration // the server's user+system CPU over the round
	lat      []time.Duration
}

// cell is every round of one server at one concurrency, merged.
type cell struct {
	round
	peakRSS uint64
	// rates is each round's throughput, for the spread between rounds.
	rates []float64
}

func (c *cell) add(r round) {
	c.requests += r.requests
	c.errors += r.errors
	c.wrong += r.wrong
	c.elapsed += r.elapsed
	c.cpu += r.cpu
	c.lat = append(c.lat, r.lat...)
	if r.elapsed > 0 {
		c.rates = append(c.rates, float64(r.requests)/r.elapsed.Seconds())
	}
}

// spread is the range of the per-round throughputs as a fraction of the mean: how much the same
// admission moved between rounds of one run.
func (c *cell) spread() float64 {
	if len(c.rates) < 2 || c.rate() == 0 {
		return 0
	}
	return (slices.Max(c.rates) - slices.Min(c.rates)) / c.rate()
}

func (c *cell) rate() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(c.requests) / c.elapsed.Seconds()
}

func (c *cell) cpuPerRequest() time.Duration {
	if c.requests == 0 {
		return 0
	}
	return c.cpu / time.Duration(c.requests)
}

// newClient is a keep-alive HTTPS/1.1 client with up to conns connections, trusting pool; like the
// API server's webhook client, it reuses connections and does not speak HTTP/2.
func newClient(pool *x509.CertPool, conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}}
}

var deniedMark = []byte(`"allowed":false`)

// post sends one body and reports whether the answer was a 200 and what it said.
func post(hc *http.Client, url string, body []byte) (ok, denied bool) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, false
	}
	return true, bytes.Contains(b, deniedMark)
}

// runRound drives s with conc workers for d, each alternating the allowed and the denied body.
func runRound(s *server, hc *http.Client, bodies [2][]byte, conc int, d time.Duration) (round, error) {
	// Every connection is open and warm before the clock starts.
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() { post(hc, s.url, bodies[0]) })
	}
	wg.Wait()
	cpu0, err := cpuTime(s.pid())
	if err != nil {
		return round{}, err
	}
	results := make([]round, conc)
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			r := &results[w]
			r.lat = make([]time.Duration, 0, 4096)
			for i := w; ; i++ {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				ok, denied := post(hc, s.url, bodies[i%2])
				r.lat = append(r.lat, time.Since(t0))
				r.requests++
				switch {
				case !ok:
					r.errors++
				case s.verdicts && denied != (i%2 == 1):
					r.wrong++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTime(s.pid())
	if err != nil {
		return round{}, err
	}
	var total round
	for _, r := range results {
		total.requests += r.requests
		total.errors += r.errors
		total.wrong += r.wrong
		total.lat = append(total.lat, r.lat...)
	}
	total.elapsed, total.cpu = elapsed, cpu1-cpu0
	return total, nil
}

// direct runs rounds × (every concurrency × every server, servers alternating within each
// concurrency so that drift on the machine spreads over all of them) and returns the cells by
// concurrency and server name, and the idle RSS of each server.
func direct(ctx context.Context, servers []*server, pool *x509.CertPool, bodies [2][]byte, concs []int, rounds int, d time.Duration, profile string, logf func(string, ...any)) (map[int]map[string]*cell, map[string]uint64, error) {
	cells := map[int]map[string]*cell{}
	idle := map[string]uint64{}
	for _, s := range servers {
		m, err := readMemory(s.pid())
		if err != nil {
			return nil, nil, err
		}
		idle[s.name] = m.RSS
	}
	for _, c := range concs {
		cells[c] = map[string]*cell{}
		clients := map[string]*http.Client{}
		for _, s := range servers {
			cells[c][s.name] = &cell{}
			clients[s.name] = newClient(pool, c)
		}
		for r := range rounds {
			for _, s := range servers {
				if err := ctx.Err(); err != nil { // interrupted: stop between rounds
					return nil, nil, err
				}
				_ = resetPeak(s.pid()) // the peak is then this round's; not all kernels allow it
				wait := func() error { return nil }
				if profile != "" && r == rounds-1 {
					wait = s.cpuProfile(filepath.Join(profile, fmt.Sprintf("%s-c%d.pprof", s.name, c)), d)
				}
				res, err := runRound(s, clients[s.name], bodies, c, d)
				if err = errors.Join(err, wait()); err != nil {
					return nil, nil, fmt.Errorf("%s at c=%d: %w", s.name, c, err)
				}
				cl := cells[c][s.name]
				cl.add(res)
				if m, err := readMemory(s.pid()); err == nil {
					cl.peakRSS = max(cl.peakRSS, m.Peak)
				}
				logf("c=%-2d round %d/%d %-12s %8.0f req/s  errors %d  wrong verdicts %d", c, r+1, rounds, s.name,
					float64(res.requests)/res.elapsed.Seconds(), res.errors, res.wrong)
			}
		}
		for _, cl := range cells[c] {
			slices.Sort(cl.lat)
		}
		for _, hc := range clients {
			hc.CloseIdleConnections()
		}
	}
	return cells, idle, nil
}
