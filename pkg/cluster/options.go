package cluster

import (
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

func controllerOptions() controller.Options {
	// Every replica runs the reconcilers (they feed its own store), so they do not wait for the
	// election; only the status writes do (PolicyReconciler.Elected).
	return controller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 2}
}
