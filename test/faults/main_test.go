//go:build faults

// Package faults is sealgate's fault suite: the real sealgate binary, as several replicas behind a
// stand-in for their Service, is the webhook of a real kube-apiserver and etcd, and each case does to
// it what an attacker or a bad day does (huge and deeply nested objects, held bodies, a killed
// replica, a rolling restart, a restarted API server or etcd, a certificate rotation) while
// admissions run through the API server. Each case says what was lost, and logs its figures as
// lines starting with "FIGURE" (docs/reliability.md quotes a run).
//
// Run it with `make test-faults`, or: go test -tags faults -count=1 -v ./test/faults/ -timeout 20m
package faults

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

var (
	env   *cluster.Cluster
	proxy *cluster.ServiceProxy
	bin   string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sealgate-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bin, err = cluster.BuildSealgate(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	if env, err = cluster.StartRestartable(dir); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer env.Stop()
	if proxy, err = cluster.StartServiceProxy(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: starting the service proxy:", err)
		return 1
	}
	defer proxy.Close()
	// Policies first: once the webhook is registered, policy writes need a replica to answer.
	if err := setupPolicies(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	if err := env.RegisterWebhook(ctx, proxy.URL()); err != nil {
		fmt.Fprintln(os.Stderr, "faults: registering the webhook:", err)
		return 1
	}
	return m.Run()
}
