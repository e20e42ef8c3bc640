package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// ErrNotFound is wrapped by a SecretReader's error when the object does not exist.
var ErrNotFound = errors.New("not found")

// SecretReader reads the cluster objects verification may need: Secrets holding public keys,
// trusted roots and registry credentials, ConfigMaps holding trusted roots, and the image pull
// secrets of a ServiceAccount. sealgate serving in a cluster implements it with its Kubernetes
// client; `sealgate check` and file mode have none. Errors for a missing object wrap ErrNotFound.
type SecretReader interface {
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
	ConfigMap(ctx context.Context, namespace, name string) (map[string]string, error)
	// ServiceAccountPullSecrets returns the names in a ServiceAccount's imagePullSecrets.
	ServiceAccountPullSecrets(ctx context.Context, namespace, name string) ([]string, error)
}

// defaultSecretKey is the key of a secretRef that names none: the file cosign generate-key-pair writes.
const defaultSecretKey = v1alpha1.DefaultSecretKeyName

// readSecretKey reads the PEM public key a secretRef names.
func readSecretKey(ctx context.Context, secrets SecretReader, r *v1alpha1.SecretKeyRef) (string, error) {
	key := r.Key
	if key == "" {
		key = defaultSecretKey
	}
	where := fmt.Sprintf("Secret %s/%s", r.Namespace, r.Name)
	if secrets == nil {
		return "", fmt.Errorf("secretRef keys (%s key %q) can only be read by sealgate serving in a cluster; "+
			"sealgate check cannot read them and fails closed: put the PEM key in publicKey, or run the check where the key is given inline", where, key)
	}
	data, err := secrets.Secret(ctx, r.Namespace, r.Name)
	if err != nil {
		return "", readerError("secretRef "+where, err)
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("secretRef: %s has no key %q", where, key)
	}
	return string(v), nil
}

// SetSecretReader gives the verifier read access to the cluster (secretRef keys, trusted roots in
// ConfigMaps and Secrets, image pull secrets). Call it before the first Verify.
func (v *Verifier) SetSecretReader(r SecretReader) { v.opts.Secrets = r }
