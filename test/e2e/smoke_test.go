package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSmokePrivilegedPodDenied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pol := `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: smoke}
spec:
  containers: {privileged: Forbid}
`
	if out, errOut, err := env.Kubectl(ctx, pol, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying policy: %v\n%s%s", err, out, errOut)
	}
	pod := `apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: default}
spec:
  containers: [{name: c, image: busybox:1.37, securityContext: {privileged: true}}]
`
	var errOut string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, errOut, _ = env.Kubectl(ctx, pod, "apply", "--dry-run=server", "-f", "-")
		if strings.Contains(errOut, "securityContext.privileged") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("kubectl: %s", errOut)
	if !strings.Contains(errOut, "spec.containers[0].securityContext.privileged") {
		t.Fatalf("expected a denial naming the field, got: %s", errOut)
	}
}
