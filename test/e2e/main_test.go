//go:build e2e

// Package e2e drives sealgate end to end: the real sealgate binary registered as a webhook with a
// real TLS handshake and CA bundle, in front of a real kube-apiserver and etcd, exercised with the
// real kubectl.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sealgate/sealgate/test/cluster"
)

var (
	env *cluster.Cluster
	sg  *cluster.Sealgate
	// sealgateBinary is the binary under test, for the commands the suite runs itself.
	sealgateBinary string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sealgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := cluster.BuildSealgate(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sealgateBinary = bin
	env, err = cluster.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer env.Stop()
	sg, err = env.StartSealgate(context.Background(), bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	_ = sg.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "sealgate log:\n%s\n", sg.Log.String())
	}
	return code
}
