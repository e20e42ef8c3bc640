//go:build tools

// Package tools pins the Kubernetes binaries hack/tools.sh builds from this
// module (for envtest: KUBEBUILDER_ASSETS=./bin).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
