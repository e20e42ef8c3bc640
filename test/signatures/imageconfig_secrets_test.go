//go:build signatures

package signatures

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/secrets"
)

// TestCheckImageConfigSecrets: an AWS key baked into an image's ENV with `crane mutate --env` is
// found in the config read from the registry; the output names the variable and the fingerprint,
// and holds no 8 bytes of the key. An image whose ENV is ordinary passes.
func TestCheckImageConfigSecrets(t *testing.T) {
	const key = "AKIAC36AN57RKC7UEPXC" // the format of an AWS access key ID, generated at random
	r := newRegistry(t)
	dir := t.TempDir()
	r.push(t, "app", "base")
	base := r.host + "/app:base"
	clean, leaky := r.host+"/app:clean", r.host+"/app:leaky"
	r.tool(t, dir, "crane", "mutate", base, "--env", "LOG_LEVEL=info", "-t", clean)
	r.tool(t, dir, "crane", "mutate", base, "--env", "AWS_ACCESS_KEY_ID="+key, "-t", leaky)
	if got := r.tool(t, dir, "crane", "config", leaky); !strings.Contains(got, key) {
		t.Fatalf("crane mutate --env: config %s", got)
	}

	b, err := json.Marshal(map[string]any{
		"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy",
		"metadata": map[string]any{"name": "image-secrets"},
		"spec": map[string]any{
			"images":      map[string]any{"allowedRegistries": []string{r.host + "/**"}},
			"imageConfig": map[string]any{"plaintextSecrets": "Forbid"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "image-secrets.yaml")
	writeFile(t, pol, b)

	if out, code := check(t, r, pol, clean); code != 0 {
		t.Errorf("image with ordinary ENV: exit %d, want 0:\n%s", code, out)
	}
	out, code := check(t, r, pol, leaky)
	if code != cli.ExitDenied {
		t.Fatalf("image with a key in ENV: exit %d, want %d:\n%s", code, cli.ExitDenied, out)
	}
	wantContains(t, out, "spec.containers[0].image: ",
		`container "c0" uses image "`+leaky+`", whose config sets env "AWS_ACCESS_KEY_ID" to a plain-text AWS access key ID (`+secrets.Fingerprint(key)+`)`,
		"[image-secrets/imageConfig.plaintextSecrets]")
	for i := 0; i+8 <= len(key); i++ {
		if strings.Contains(out, key[i:i+8]) {
			t.Fatalf("the output holds %q, part of the key:\n%s", key[i:i+8], out)
		}
	}
}
