//go:build helm

// Package helm tests the Helm chart in charts/sealgate with the real helm (built from its Go module at
// the version pinned in hack/tools.sh): lint, rendered output against golden files, the values schema,
// the rendered webhook configuration against pkg/webhookconfig, the rendered manifests against the
// strict example policy, and install, upgrade and uninstall on a real kube-apiserver with the real
// sealgate binary serving the webhook the chart registered.
package helm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealgate/sealgate/test/cluster"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata and the generated part of values.schema.json")

var (
	root      = cluster.Root()
	chartDir  = filepath.Join(root, "charts", "sealgate")
	helmBin   = filepath.Join(root, "bin", "helm")
	sealgate  string // built in TestMain
	helmHome  string // HELM_*_HOME, so the user's helm configuration plays no part
	tempDir   string
	releaseNS = "sealgate-system"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := os.Stat(helmBin); err != nil {
		fmt.Fprintf(os.Stderr, "helm is missing from %s: run `hack/tools.sh helm` (it builds the pinned version)\n", filepath.Dir(helmBin))
		return 1
	}
	var err error
	tempDir, err = os.MkdirTemp("", "sealgate-helm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tempDir)
	helmHome = filepath.Join(tempDir, "helm-home")
	if sealgate, err = cluster.BuildSealgate(context.Background(), tempDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
