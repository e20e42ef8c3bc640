package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namespaces answers namespace labels from the informer cache, falling back to a live read for a
// namespace the cache has not seen yet (created a moment ago). It satisfies engine.Namespaces; any
// failure is returned, never treated as "no labels".
type Namespaces struct {
	Cache client.Reader
	Live  client.Reader
}

// Labels implements engine.Namespaces.
func (n *Namespaces) Labels(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	err := n.Cache.Get(ctx, client.ObjectKey{Name: name}, &ns)
	if apierrors.IsNotFound(err) && n.Live != nil {
		err = n.Live.Get(ctx, client.ObjectKey{Name: name}, &ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %q: %w", name, err)
	}
	return ns.Labels, nil
}
