package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// StartRestartable starts the control plane as Start does, with etcd's data and the API server's
// certificates under dir, so that RestartEtcd and RestartAPIServer bring each back with the same
// objects, address and credentials (envtest otherwise deletes etcd's data at a stop and makes new
// serving certificates at a start).
func StartRestartable(dir string) (*Cluster, error) {
	bin := filepath.Join(Root(), "bin")
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run `hack/tools.sh kube-apiserver kubectl etcd` (make test does)", b, bin)
		}
	}
	etcdDir, apiDir := filepath.Join(dir, "etcd"), filepath.Join(dir, "kube-apiserver")
	for _, d := range []string{etcdDir, apiDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// Applies to every stop, the restarts' and the last one's.
		ControlPlaneStopTimeout: APIServerStopWait,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{DataDir: etcdDir},
			APIServer: &envtest.APIServer{CertDir: apiDir},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Env: env, Config: cfg, Dir: dir, bin: filepath.Join(Root(), "bin")}
	if err := c.setup(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// APIServerStopWait is how long RestartAPIServer lets kube-apiserver stop by itself before it kills
// it. With clients watching, its graceful stop waits for them up to its shutdown timeout (a minute);
// the restart stands for a crash or a kill, and its outage stays short.
const APIServerStopWait = 2 * time.Second

// RestartAPIServer stops kube-apiserver, waits for down, and starts it again on the same address.
// Only a cluster from StartRestartable keeps its certificates across the restart, and kills it
// after APIServerStopWait (other clusters wait for envtest's 20 s).
func (c *Cluster) RestartAPIServer(down time.Duration) error {
	err := c.Env.ControlPlane.APIServer.Stop()
	if err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	time.Sleep(down)
	if err := c.Env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// RestartEtcd stops etcd, waits for down, and starts it again on the same address; the API server
// keeps running and reconnects. Only a cluster from StartRestartable keeps etcd's data.
func (c *Cluster) RestartEtcd(down time.Duration) error {
	etcd := c.Env.ControlPlane.Etcd
	if err := etcd.Stop(); err != nil {
		return fmt.Errorf("stopping etcd: %w", err)
	}
	time.Sleep(down)
	if err := etcd.Start(); err != nil {
		return fmt.Errorf("starting etcd again: %w", err)
	}
	return nil
}

// RegisterWebhook creates sealgate's webhook configuration with its URL at base (e.g. a
// ServiceProxy's URL), or points the existing one there, keeping its CA bundle. Replicas started with
// StartReplica then inject the CA and serve it.
func (c *Cluster) RegisterWebhook(ctx context.Context, base string) error {
	want, err := webhookconfig.Validating(webhookconfig.Options{Namespace: Namespace, URL: base, TimeoutSeconds: 10})
	if err != nil {
		return err
	}
	have := webhookconfig.Empty()
	err = c.Client.Get(ctx, client.ObjectKey{Name: want.Name}, have)
	if apierrors.IsNotFound(err) {
		return c.Client.Create(ctx, want)
	}
	if err != nil {
		return err
	}
	for i := range want.Webhooks {
		for _, h := range have.Webhooks {
			if h.Name == want.Webhooks[i].Name {
				want.Webhooks[i].ClientConfig.CABundle = h.ClientConfig.CABundle
			}
		}
	}
	have.Webhooks = want.Webhooks
	return c.Client.Update(ctx, have)
}
