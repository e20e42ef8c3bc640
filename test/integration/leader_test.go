//go:build integration

package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

// A leader that cannot renew its Lease (an API server or etcd outage, here a partition of Lease
// requests) stops writing status and keeps serving, another replica takes over, and the old leader
// wins the Lease back later. With controller-runtime's own election the old leader's process would
// exit with "leader election lost", taking a serving replica down with it.
func TestLeaderLosesLeaseAndKeepsServing(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	kc := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := writeKubeconfig(kc, "http://"+proxy.Addr); err != nil {
		t.Fatal(err)
	}
	const lease = "leader-test"
	// r1 reaches the API server through the proxy, r2 directly: only r1's Lease requests are cut.
	r1, err := env.StartReplica(ctx, sg.Cmd.Path, "leader-r1", "--kubeconfig", kc, "--leader-election-id", lease)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Stop()
	waitLog(t, r1, "elected: this replica writes policy status", 30*time.Second)
	r2, err := env.StartReplica(ctx, sg.Cmd.Path, "leader-r2", "--leader-election-id", lease)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()

	proxy.CutLeases(true)
	defer proxy.CutLeases(false)
	// The renew deadline is 10 s; the Lease expires 15 s after r1's last renewal.
	waitLog(t, r1, "no longer the leader", 40*time.Second)
	waitLog(t, r2, "elected: this replica writes policy status", 40*time.Second)
	if !r1.Alive() {
		t.Fatalf("the replica that lost its Lease exited:\n%s", r1.Log.String())
	}
	ns := "leader-test"
	if err := env.EnsureNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reviewPod(t, r1, ns, "after-lease-lost", ""); err != nil {
		t.Fatalf("the replica that lost its Lease stopped answering admissions: %v", err)
	}

	proxy.CutLeases(false)
	r2.Stop() // releases the Lease: r1 campaigns again and wins it
	waitLog(t, r1, "elected: this replica writes policy status", 40*time.Second, 2)
}

// waitLog waits until a replica's log holds line at least n times (default once).
func waitLog(t *testing.T, s *cluster.Sealgate, line string, timeout time.Duration, n ...int) {
	t.Helper()
	want := 1
	if len(n) > 0 {
		want = n[0]
	}
	deadline := time.Now().Add(timeout)
	for strings.Count(s.Log.String(), line) < want {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) in the replica's log within %s:\n%s", line, want, timeout, tail(s.Log.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
