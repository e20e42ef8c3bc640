//go:build helm

package helm

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// prodNamespace is the release namespace as a production namespace: labelled env=prod, so the strict
// example policy (examples/policies/production.yaml, unmodified) applies to everything the chart runs.
var prodNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + releaseNS + `
  labels: {env: prod}
`

// mirrored are the values a production cluster sets: sealgate's image mirrored into the company
// registry and pinned by digest. production.yaml allows only registry.example.com/** and ghcr.io/acme/*;
// the default image, ghcr.io/sealgate/sealgate, is not on that list, and must not be made to pass by
// weakening the policy.
var mirrored = []string{"--set", "image.repository=registry.example.com/sealgate/sealgate",
	"--set", "image.digest=sha256:" + strings.Repeat("5e", 32)}

func check(t *testing.T, manifests string, args ...string) (string, int) {
	t.Helper()
	// The webhook never sees the release namespace, so check would list the chart's objects as
	// excluded: --include-excluded holds the chart to the policy anyway.
	cmd := exec.Command(sealgate, append([]string{"check", "--include-excluded", "--policy", filepath.Join(root, "examples", "policies", "production.yaml"), "-f", "-"}, args...)...)
	cmd.Stdin = strings.NewReader(prodNamespace + "---\n" + manifests)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if code := exitCode(err); code != 0 && code != 1 {
		t.Fatalf("sealgate check: exit %d: %s%s", code, out.String(), errOut.String())
	}
	return out.String(), exitCode(err)
}

// TestChartPassesProductionPolicy: in every scenario the chart's own manifests, rendered into a
// namespace labelled env=prod, are admitted by the strict example policy (restricted Pod Security
// Standard, read-only root, all capabilities dropped, requests and limits, no :latest) with sealgate
// check, the verdict the webhook would give.
func TestChartPassesProductionPolicy(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			out, code := check(t, renderScenario(t, s, mirrored...), "--detail", "full")
			if code != 0 {
				t.Fatalf("sealgate check denied the chart's manifests (exit %d):\n%s", code, out)
			}
			if !strings.Contains(out, "Deployment "+releaseNS+"/") || !strings.Contains(out, "ADMITTED") {
				t.Errorf("the Deployment was not checked:\n%s", out)
			}
		})
	}
}

// TestDefaultImageOnlyFailsTheAllowlist: with the default image, the only thing the strict policy finds
// is the registry allowlist, which is what mirroring (the values above) fixes.
func TestDefaultImageOnlyFailsTheAllowlist(t *testing.T) {
	out, code := check(t, render(t), "-o", "json")
	if code != 1 {
		t.Fatalf("want the default image denied by production's allowlist (exit 1), got exit %d:\n%s", code, out)
	}
	var report struct {
		Results []struct {
			Kind       string `json:"kind"`
			Violations []struct {
				Rule string `json:"rule"`
			} `json:"violations"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := 0
	for _, r := range report.Results {
		for _, v := range r.Violations {
			n++
			if v.Rule != "images.allowedRegistries" {
				t.Errorf("%s: violation of %s; only images.allowedRegistries is expected", r.Kind, v.Rule)
			}
		}
	}
	if n == 0 {
		t.Errorf("no violations found:\n%s", out)
	}
}
