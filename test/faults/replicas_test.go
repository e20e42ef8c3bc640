//go:build faults

package faults

import (
	"testing"
	"time"
)

// (c) One of two replicas is killed (SIGKILL) during load. The admissions in flight on it, and any
// the proxy sent it before a poll found it unready, fail: the API server does not retry a webhook
// call. They are counted, not asserted. Afterwards the survivor answers everything.
func TestReplicaKilledDuringLoad(t *testing.T) {
	f := newFleet(t)
	f.start("a")
	f.start("b")
	l := startLoad(t, 4, 2*time.Millisecond)
	waitRequests(t, l, 200)
	before := l.Stats()
	start := time.Now()
	f.kill("a")
	gone := time.Since(start)
	atKill := l.Stats()
	waitRequests(t, l, 300)
	s := l.Stop()
	lost := atKill.Failed - before.Failed
	after := s.Failed - atKill.Failed
	if after != 0 {
		t.Errorf("%d admissions failed once the proxy had taken the killed replica out: %s", after, s)
	}
	if s.Admitted == 0 || s.Denied == 0 {
		t.Errorf("the load did not run as meant: %s", s)
	}
	for _, f := range s.Failures {
		t.Logf("failure: %s", f)
	}
	figure(t, "SIGKILL of one of two replicas: %d admissions failed (in flight on it, or sent to it within the %d ms before the proxy saw it unready); "+
		"then %d admissions to the survivor, %d failed",
		lost, gone.Milliseconds(), s.Total()-atKill.Total(), after)
}

// (d) A rolling restart during load, as a Deployment with maxSurge 1 and maxUnavailable 0 does it:
// a third replica starts, the first gets SIGTERM, a fourth starts, the second gets SIGTERM. Not one
// admission may fail.
func TestRollingRestart(t *testing.T) {
	f := newFleet(t)
	f.start("r1")
	f.start("r2")
	l := startLoad(t, 4, 2*time.Millisecond)
	waitRequests(t, l, 100)
	start := time.Now()
	f.start("r3")
	t1 := f.terminate("r1")
	f.start("r4")
	t2 := f.terminate("r2")
	took := time.Since(start)
	waitRequests(t, l, 100)
	s := l.Stop()
	wantNothingLost(t, "rolling restart", s)
	figure(t, "2 replicas replaced one by one under load in %.1f s (SIGTERM to exit: %d ms and %d ms, with --shutdown-delay 2s); %d admissions, %d failed",
		took.Seconds(), t1.Milliseconds(), t2.Milliseconds(), s.Total(), s.Failed)
}

// (d) SIGTERM to one of two replicas while 20 workers keep the API server's keep-alive connections
// to the webhook busy: each connection is closed by sealgate right after an answer, the API server
// opens the next one through the proxy to the other replica, and not one admission fails.
func TestSIGTERMUnderLoad(t *testing.T) {
	f := newFleet(t)
	f.start("a")
	f.start("b")
	l := startLoad(t, 20, 0)
	waitRequests(t, l, 400)
	conns := proxy.Active("a") + proxy.Active("b")
	onA := proxy.Active("a")
	took := f.terminate("a")
	waitRequests(t, l, 400)
	s := l.Stop()
	wantNothingLost(t, "SIGTERM under load", s)
	figure(t, "20 workers, %d keep-alive connections through the proxy (%d to the terminated replica); SIGTERM to exit %d ms (--shutdown-delay 2s); %d admissions, %d failed",
		conns, onA, took.Milliseconds(), s.Total(), s.Failed)
}
