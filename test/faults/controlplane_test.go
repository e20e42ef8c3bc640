//go:build faults

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/test/cluster"
)

// How long the API server, then etcd, stays down. The API server's outage is longer than the renew
// deadline of the replicas' leader election (10 s), so the elected replica loses its Lease.
const (
	apiOutage  = 12 * time.Second
	etcdOutage = 2 * time.Second
	// watchBackoff bounds the wait for a policy change made right after the API server is back:
	// client-go's watches retry with a backoff that grows to 30 s (and jitter) during the outage.
	watchBackoff = 90 * time.Second
)

const (
	nsRestart     = "faults-restart"
	restartPolicy = "faults-restart"
)

// (e) The API server restarted, then etcd restarted (its data kept), with two replicas running:
// each time sealgate's watches come back by themselves, both replicas give the verdicts they gave
// before (no policy lost), a policy change made after the restart reaches both, and neither replica
// exits, though the API server's outage outlasts the leader's Lease.
func TestControlPlaneRestarts(t *testing.T) {
	f := newFleet(t)
	a, b := f.start("a"), f.start("b")
	pids := []int{a.Pid(), b.Pid()}
	if err := env.EnsureNamespace(t.Context(), nsRestart, map[string]string{"faults": "restart"}); err != nil {
		t.Fatal(err)
	}
	p := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: restartPolicy},
		Spec: policySpec(v1alpha1.ModeEnforce, "restart")}
	if err := env.Client.Create(t.Context(), p); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	setMode(t, v1alpha1.ModeEnforce)
	waitVerdicts(t, f, "before the restarts", true, settle)
	policies := countPolicies(t)

	start := time.Now()
	if err := env.RestartAPIServer(apiOutage); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	back := waitVerdicts(t, f, "after the API server restart", true, settle)
	setMode(t, v1alpha1.ModeAudit)
	picked := waitVerdicts(t, f, "a policy change after the API server restart", false, watchBackoff)
	figure(t, "API server stopped, down %s, up again after %d ms; verdicts as before %d ms later; a policy change after it reached both replicas in %d ms",
		apiOutage, up.Milliseconds(), back.Milliseconds(), picked.Milliseconds())

	start = time.Now()
	if err := env.RestartEtcd(etcdOutage); err != nil {
		t.Fatal(err)
	}
	up = time.Since(start)
	back = waitVerdicts(t, f, "after the etcd restart", false, settle)
	setMode(t, v1alpha1.ModeEnforce)
	picked = waitVerdicts(t, f, "a policy change after the etcd restart", true, watchBackoff)
	figure(t, "etcd stopped, down %s, up again after %d ms; verdicts as before %d ms later; a policy change after it reached both replicas in %d ms",
		etcdOutage, up.Milliseconds(), back.Milliseconds(), picked.Milliseconds())

	if n := countPolicies(t); n != policies {
		t.Errorf("%d policies after the restarts, %d before", n, policies)
	}
	for i, s := range []*cluster.Sealgate{a, b} {
		if !s.Alive() || s.Pid() != pids[i] {
			t.Errorf("replica %d exited during the restarts", i)
		}
	}
	figure(t, "%d policies before and after; both replicas served throughout without a restart", policies)
}

// setMode sets the restart policy's mode, retrying while the API server comes back.
func setMode(t *testing.T, mode v1alpha1.Mode) {
	t.Helper()
	cluster.Eventually(t, settle, "the policy set to "+string(mode), func() (bool, string) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var p v1alpha1.ClusterAdmissionPolicy
			if err := env.Client.Get(t.Context(), client.ObjectKey{Name: restartPolicy}, &p); err != nil {
				return err
			}
			p.Spec.Mode = mode
			return env.Client.Update(t.Context(), &p)
		})
		return err == nil, fmt.Sprint(err)
	})
}

// waitVerdicts waits until, through the API server, a privileged pod in nsRestart is denied when
// enforce (admitted otherwise), a plain one is admitted and a privileged one in nsEnforce is denied;
// and each replica, asked directly, gives the same verdict on the privileged pod in nsRestart. It
// returns how long that took.
func waitVerdicts(t *testing.T, f *fleet, when string, enforce bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	cluster.Eventually(t, within, "the verdicts "+when, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		err := verdict(ctx, pod(nsRestart, "priv", true))
		if enforce != cluster.IsDenial(err) || (!enforce && err != nil) {
			return false, fmt.Sprintf("privileged pod in %s (enforce=%v): %v", nsRestart, enforce, err)
		}
		if err := verdict(ctx, pod(nsRestart, "plain", false)); err != nil {
			return false, "plain pod: " + err.Error()
		}
		if err := verdict(ctx, pod(nsEnforce, "priv", true)); !cluster.IsDenial(err) {
			return false, fmt.Sprintf("privileged pod in %s: %v", nsEnforce, err)
		}
		c, err := env.WebhookClient(ctx)
		if err != nil {
			return false, err.Error()
		}
		defer c.CloseIdleConnections()
		for name, s := range f.replicas {
			allowed, err := replicaVerdict(c, s, pod(nsRestart, "priv", true))
			if err != nil || allowed == enforce {
				return false, fmt.Sprintf("replica %s: allowed=%v, err=%v", name, allowed, err)
			}
		}
		return true, ""
	})
	return time.Since(start)
}

func countPolicies(t *testing.T) int {
	t.Helper()
	var l v1alpha1.ClusterAdmissionPolicyList
	if err := env.Client.List(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}
