//go:build !faults

package faults

import "testing"

// TestTier stands in for the fault suite when it is not built: its tests carry the build tag
// "faults" because they need a real kube-apiserver and etcd and run for minutes, so that
// `go test ./...` on a fresh clone runs the unit tier only. `make test` runs every tier.
func TestTier(t *testing.T) {
	t.Skip("the fault suite needs tools in ./bin (kube-apiserver kubectl etcd): run `make test-faults`, " +
		"which installs them (hack/tools.sh), or `go test -tags faults ./test/faults/` once they are there")
}
