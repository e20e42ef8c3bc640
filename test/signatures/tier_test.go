//go:build !signatures

package signatures

import "testing"

// TestTier stands in for the signature tier when it is not built: its tests carry the build tag
// "signatures" because they need the real cosign CLI and crane against a TLS registry on loopback, and
// a real kube-apiserver, so that `go test ./...` on a fresh clone runs the unit tier only. `make test`
// runs every tier.
func TestTier(t *testing.T) {
	t.Skip("the signature tier needs tools in ./bin (kube-apiserver kubectl etcd cosign crane): run `make test-signatures`, which installs them " +
		"(hack/tools.sh), or `go test -tags signatures ./test/signatures/` once they are there")
}
