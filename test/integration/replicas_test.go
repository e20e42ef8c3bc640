//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

const (
	replicaPolicy = "int-replicas"
	// maxStatusWrites bounds the status writes one change may cause: one by the elected replica, and
	// slack for a leader that changes hands during the step.
	maxStatusWrites = 3
	// quietWindow is how long status must then stay unwritten.
	quietWindow = 5 * time.Second
)

// Replicas agree: three `sealgate serve` processes against one API server (the suite's replica,
// which the API server calls, and two more reached directly) give the same verdict on the same pods
// after a valid policy, a valid update, an invalid update that bypassed the policy webhook, and a
// replica restarted after the invalid update; after each step status settles after a bounded number
// of writes. The generations are told apart by what they deny: generation 1 forbids privileged
// containers, generation 2 also requires a read-only root filesystem.
func TestReplicasAgree(t *testing.T) {
	ns := namespace(t, "replicas", nil)
	replicas := map[string]*cluster.Sealgate{"suite": sg}
	for _, name := range []string{"r1", "r2"} {
		replicas[name] = startReplica(t, name)
	}
	writes := watchStatusWrites(t, replicaPolicy)
	pods := map[string]string{
		"plain":      "",
		"privileged": `"securityContext": {"privileged": true, "readOnlyRootFilesystem": true}`,
	}
	gen1 := `{match: {namespaceSelector: {matchLabels: {int-test: replicas}}}, containers: {privileged: Forbid}}`
	gen2 := `{match: {namespaceSelector: {matchLabels: {int-test: replicas}}}, containers: {privileged: Forbid, readOnlyRootFilesystem: Require}}`
	gen1Verdicts := map[string]bool{"plain": true, "privileged": false}
	gen2Verdicts := map[string]bool{"plain": false, "privileged": false}

	step := func(name string, want map[string]bool, ready string, change func()) {
		t.Helper()
		before := writes.count()
		change()
		wantAgree(t, name, replicas, ns, pods, want)
		wantStatus(t, replicaPolicy, ready)
		wantSettled(t, name, writes, before)
	}

	step("valid policy", gen1Verdicts, "generation 1 is in force", func() { applyPolicy(t, replicaPolicy, gen1) })
	step("valid update", gen2Verdicts, "generation 2 is in force", func() {
		mustKubectl(t, policyYAML(replicaPolicy, gen2), "apply", "-f", "-")
	})
	step("invalid update", gen2Verdicts, "generation 2 stays in force", func() {
		withoutPolicyWebhook(t, func() {
			updateSpecBypassingWebhook(t, replicaPolicy, `{"match": {"excludeNamespaces": ["Not_A_Namespace"]}}`)
		})
	})
	// The replica restarted is the leader when one of ours holds the lease, so the lease changes
	// hands too; either way the restarted one starts after the invalid update.
	step("replica restarted after the invalid update", gen2Verdicts, "generation 2 stays in force", func() {
		name := "r1"
		if strings.Contains(replicas["r2"].Log.String(), "Successfully acquired lease") {
			name = "r2"
		}
		t.Logf("restarting replica %s", name)
		_ = replicas[name].Stop()
		replicas[name] = startReplica(t, name)
	})
}

// startReplica starts one more replica with extra flags, stopped when the test ends.
func startReplica(t *testing.T, name string, args ...string) *cluster.Sealgate {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	r, err := env.StartReplica(ctx, sg.Cmd.Path, name, args...)
	if err != nil {
		t.Fatalf("starting replica %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = r.Stop()
		if t.Failed() {
			t.Logf("replica %s log:\n%s", name, r.Log.String())
		}
	})
	return r
}

// wantAgree waits until every replica gives each pod the wanted verdict, and fails with every
// replica's verdicts if they never do.
func wantAgree(t *testing.T, step string, replicas map[string]*cluster.Sealgate, ns string, pods map[string]string, want map[string]bool) {
	t.Helper()
	eventually(t, settle, step+": every replica gives the same, expected verdicts", func() (bool, string) {
		ok := true
		var b strings.Builder
		for rn, r := range replicas {
			for pn, extra := range pods {
				allowed, msg, err := reviewPod(t, r, ns, pn, extra)
				if err != nil {
					ok = false
					fmt.Fprintf(&b, "\n%s/%s: %v", rn, pn, err)
					continue
				}
				if allowed != want[pn] {
					ok = false
				}
				fmt.Fprintf(&b, "\n%s/%s: allowed=%v %s", rn, pn, allowed, msg)
			}
		}
		return ok, b.String()
	})
}

// wantStatus waits until the policy's Ready condition describes its current generation and says
// what.
func wantStatus(t *testing.T, name, what string) {
	t.Helper()
	const jp = `jsonpath={.metadata.generation}|{.status.conditions[?(@.type=="Ready")].observedGeneration}|{.status.conditions[?(@.type=="Ready")].message}`
	eventually(t, settle, "policy "+name+" status: "+what, func() (bool, string) {
		r := kubectl(t, "", "get", "clusteradmissionpolicy", name, "-o", jp)
		f := strings.SplitN(r.Stdout, "|", 3)
		return r.Err == nil && len(f) == 3 && f[0] == f[1] && strings.Contains(f[2], what), r.String()
	})
}

// wantSettled fails if the step wrote status more than maxStatusWrites times, or if status is still
// being written over a quiet window.
func wantSettled(t *testing.T, step string, w *statusWrites, before int) {
	t.Helper()
	settledAt := w.count()
	select {
	case <-time.After(quietWindow):
	case <-t.Context().Done():
		t.Fatal("test ended during the quiet window")
	}
	after := w.count()
	t.Logf("%s: %d status writes", step, after-before)
	if n := after - before; n > maxStatusWrites {
		t.Errorf("%s: %d status writes, want at most %d:\n%s", step, n, maxStatusWrites, w.since(before))
	}
	if after != settledAt {
		t.Errorf("%s: status written %d times in a quiet %s window: it does not settle:\n%s", step, after-settledAt, quietWindow, w.since(settledAt))
	}
	if err := w.err(); err != nil {
		t.Fatal(err)
	}
}
