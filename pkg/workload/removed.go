package workload

import "k8s.io/apimachinery/pkg/runtime/schema"

// RemovedVersion is a workload kind at an API version the API server no longer serves. Old charts
// and manifests still carry them; their pod template is where it is in the served version, so they
// are decoded and evaluated as that version and reported as removed.
type RemovedVersion struct {
	// Served is the version to write instead.
	Served schema.GroupVersionKind
	// RemovedIn is the Kubernetes release that stopped serving it.
	RemovedIn string
}

// removed lists the removed versions of the kinds in Kinds.
var removed = func() map[schema.GroupVersionKind]RemovedVersion {
	out := map[schema.GroupVersionKind]RemovedVersion{}
	add := func(group, version, release string, kinds ...string) {
		for _, k := range kinds {
			served := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: k}
			if k == "CronJob" {
				served = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: k}
			}
			out[schema.GroupVersionKind{Group: group, Version: version, Kind: k}] = RemovedVersion{Served: served, RemovedIn: release}
		}
	}
	add("extensions", "v1beta1", "1.16", "Deployment", "DaemonSet", "ReplicaSet")
	add("apps", "v1beta1", "1.16", "Deployment", "StatefulSet")
	add("apps", "v1beta2", "1.16", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
	add("batch", "v1beta1", "1.25", "CronJob")
	return out
}()

// Removed reports whether gvk is a workload kind at a removed API version, and which version serves it.
func Removed(gvk schema.GroupVersionKind) (RemovedVersion, bool) {
	r, ok := removed[gvk]
	return r, ok
}
