//go:build integration

// Package integration tests sealgate's cluster machinery against a real kube-apiserver and etcd:
// self-managed certificate regeneration and CA re-injection, and failing closed when the API server
// cannot answer a namespace lookup. sealgate reaches the API server through a loopback proxy that
// can refuse namespace reads, so the failure is a real one on sealgate's real code path.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sealgate/sealgate/test/cluster"
)

var (
	env   *cluster.Cluster
	sg    *cluster.Sealgate
	proxy *faultProxy
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sealgate-integration-")
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
	env, err = cluster.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer env.Stop()
	proxy, err = startFaultProxy(env.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: starting the API proxy:", err)
		return 1
	}
	defer proxy.Close()
	kubeconfig := filepath.Join(dir, "proxy.kubeconfig")
	if err := writeKubeconfig(kubeconfig, "http://"+proxy.Addr); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	// The later --kubeconfig wins: sealgate talks to the API server through the proxy.
	sg, err = env.StartSealgate(context.Background(), bin, "--kubeconfig", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	code := m.Run()
	_ = sg.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "sealgate log:\n%s\n", sg.Log.String())
	}
	return code
}

// writeKubeconfig writes a kubeconfig for an unauthenticated server on loopback (the proxy
// authenticates upstream).
func writeKubeconfig(path, server string) error {
	c := clientcmdapi.NewConfig()
	c.Clusters["proxy"] = &clientcmdapi.Cluster{Server: server}
	c.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	c.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	c.CurrentContext = "proxy"
	return clientcmd.WriteToFile(*c, path)
}
