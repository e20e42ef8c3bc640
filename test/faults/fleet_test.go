//go:build faults

package faults

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/test/cluster"
)

// Namespaces and the policies that cover them: the same rules, in Enforce and in Audit.
const (
	nsEnforce = "faults-enforce"
	nsAudit   = "faults-audit"
)

// Deadlines; every wait in the suite has one.
const (
	replicaStart = 90 * time.Second // a replica ready and behind the proxy
	replicaExit  = 30 * time.Second // a replica gone after SIGTERM (delay 2 s + drain)
	settle       = 30 * time.Second // a change reaching every replica
)

// replicaArgs are the flags every replica runs with: a short shutdown delay, ten proxy polls long,
// keeps the suite fast.
var replicaArgs = []string{"--shutdown-delay", "2s", "--shutdown-grace", "10s"}

// policySpec is the suite's policy: the baseline Pod Security Standard (what the chart's default
// policy checks) and sealgate's own container knobs, so that a huge pod meets both kinds of rule.
func policySpec(mode v1alpha1.Mode, label string) v1alpha1.PolicySpec {
	return v1alpha1.PolicySpec{
		Mode:        mode,
		Match:       v1alpha1.Match{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"faults": label}}},
		PodSecurity: &v1alpha1.PodSecurity{Level: "baseline"},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden,
			Capabilities: &v1alpha1.CapabilityRules{AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}}},
	}
}

// setupPolicies creates the namespaces and policies, before the webhook is registered.
func setupPolicies(ctx context.Context) error {
	for ns, label := range map[string]string{nsEnforce: "enforce", nsAudit: "audit"} {
		if err := env.EnsureNamespace(ctx, ns, map[string]string{"faults": label}); err != nil {
			return err
		}
	}
	for name, mode := range map[string]v1alpha1.Mode{"faults-enforce": v1alpha1.ModeEnforce, "faults-audit": v1alpha1.ModeAudit} {
		label := strings.ToLower(string(mode))
		p := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: policySpec(mode, label)}
		if err := env.Client.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating policy %s: %w", name, err)
		}
	}
	return nil
}

// fleet is the replicas one case runs, each behind the proxy under a short name.
type fleet struct {
	t        *testing.T
	replicas map[string]*cluster.Sealgate
}

var replicaSeq atomic.Int64

// newFleet returns an empty fleet whose replicas are stopped when the test ends, their logs shown
// if it failed.
func newFleet(t *testing.T) *fleet {
	f := &fleet{t: t, replicas: map[string]*cluster.Sealgate{}}
	t.Cleanup(func() {
		for name, s := range f.replicas {
			proxy.Remove(name)
			_ = s.Stop()
			if t.Failed() {
				t.Logf("replica %s log (last 6 KiB):\n%s", name, tail(s.Log.String(), 6<<10))
			}
		}
	})
	return f
}

// start runs a replica and waits until the proxy sends it connections.
func (f *fleet) start(name string, extra ...string) *cluster.Sealgate {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), replicaStart)
	defer cancel()
	dirName := name + "-" + strconv.FormatInt(replicaSeq.Add(1), 10) // a fresh cert dir per process
	s, err := env.StartReplica(ctx, bin, dirName, append(slices.Clone(replicaArgs), extra...)...)
	if err != nil {
		f.t.Fatalf("starting replica %s: %v", name, err)
	}
	f.replicas[name] = s
	proxy.Add(name, s)
	cluster.Eventually(f.t, replicaStart, "replica "+name+" ready behind the proxy", func() (bool, string) {
		return slices.Contains(proxy.Ready(), name), "ready: " + strings.Join(proxy.Ready(), ",")
	})
	return s
}

// terminate sends SIGTERM, as the kubelet does when a rollout deletes a pod, and waits for the exit,
// which must be clean. The proxy stops sending it connections once its readiness fails, as
// endpoints would; it leaves the rotation when it has exited.
func (f *fleet) terminate(name string) time.Duration {
	f.t.Helper()
	s := f.replicas[name]
	start := time.Now()
	if err := s.Signal(syscall.SIGTERM); err != nil {
		f.t.Fatalf("SIGTERM to %s: %v", name, err)
	}
	exitErr, ok := s.WaitExit(replicaExit)
	if !ok {
		f.t.Fatalf("replica %s still runs %s after SIGTERM", name, replicaExit)
	}
	took := time.Since(start)
	proxy.Remove(name)
	delete(f.replicas, name)
	if exitErr != nil {
		f.t.Errorf("replica %s exited with %v after SIGTERM; log:\n%s", name, exitErr, tail(s.Log.String(), 4<<10))
	}
	return took
}

// kill sends SIGKILL and waits for the exit. The proxy finds it unready at its next poll.
func (f *fleet) kill(name string) {
	f.t.Helper()
	s := f.replicas[name]
	if err := s.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatalf("SIGKILL to %s: %v", name, err)
	}
	if _, ok := s.WaitExit(replicaExit); !ok {
		f.t.Fatalf("replica %s still runs after SIGKILL", name)
	}
	cluster.Eventually(f.t, 10*time.Second, "the proxy to see "+name+" unready", func() (bool, string) {
		return !slices.Contains(proxy.Ready(), name), "ready: " + strings.Join(proxy.Ready(), ",")
	})
	proxy.Remove(name)
	delete(f.replicas, name)
}

// pod is a small pod in ns; a privileged one is denied in nsEnforce.
func pod(ns, name string, privileged bool) *corev1.Pod {
	c := corev1.Container{Name: "app", Image: "registry.example/app:1.0"}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

// loadPod is what the load creates: in nsEnforce, one pod in four privileged (denied), the rest
// admitted.
func loadPod(w, i int) *corev1.Pod {
	return pod(nsEnforce, fmt.Sprintf("load-%d-%d", w, i), i%4 == 3)
}

// startLoad starts workers creating loadPods, stopped when the test ends if the case did not.
func startLoad(t *testing.T, workers int, pause time.Duration) *cluster.Load {
	t.Helper()
	l, err := cluster.StartLoad(env.Config, cluster.LoadOptions{Workers: workers, Pod: loadPod, Pause: pause})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

// wantNothingLost fails the test unless every request of the load got sealgate's answer, and the
// load did run (some admitted, some denied).
func wantNothingLost(t *testing.T, what string, s cluster.LoadStats) {
	t.Helper()
	if s.Failed != 0 {
		t.Errorf("%s: %d admissions failed, want none lost: %s", what, s.Failed, s)
	}
	if s.Admitted == 0 || s.Denied == 0 {
		t.Errorf("%s: the load did not run as meant (want admissions and denials): %s", what, s)
	}
}

// figure logs one line for docs/reliability.md: FIGURE <case>: <text>.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s", t.Name(), fmt.Sprintf(format, args...))
}

// waitRequests lets the load run until n more requests were answered.
func waitRequests(t *testing.T, l *cluster.Load, n int64) {
	t.Helper()
	if !l.WaitRequests(n, 60*time.Second) {
		t.Fatalf("the load did not make %d more requests within 60s: %s", n, l.Stats())
	}
}

// verdict creates p with dryRun through the API server and returns the error (nil: admitted).
func verdict(ctx context.Context, p *corev1.Pod) error {
	return env.Client.Create(ctx, p, client.DryRunAll)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
