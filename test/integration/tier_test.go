//go:build !integration

package integration

import "testing"

// TestTier stands in for the integration tier when it is not built: its tests carry the build tag
// "integration" because they need a real kube-apiserver and etcd, so that `go test ./...` on a fresh
// clone runs the unit tier only. `make test` runs every tier.
func TestTier(t *testing.T) {
	t.Skip("the integration tier needs tools in ./bin (kube-apiserver kubectl etcd): run `make test-integration`, " +
		"which installs them (hack/tools.sh), or `go test -tags integration ./test/integration/` once they are there")
}
