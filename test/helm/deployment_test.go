//go:build helm

package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// rendered is the part of a rendered chart the tests look into.
type rendered struct {
	m           manifests
	deploy      appsv1.Deployment
	container   corev1.Container
	args        map[string]string // --flag=value of the container
	vwc         admissionregistrationv1.ValidatingWebhookConfiguration
	service     corev1.Service
	clusterRole rbacv1.ClusterRole
}

func inspect(t *testing.T, text string) *rendered {
	t.Helper()
	r := &rendered{m: parse(t, text), args: map[string]string{}}
	r.m.one(t, "Deployment", &r.deploy)
	r.m.one(t, "ValidatingWebhookConfiguration", &r.vwc)
	r.m.one(t, "Service", &r.service)
	r.m.named(t, "ClusterRole", r.deploy.Name, &r.clusterRole)
	if n := len(r.deploy.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, got %d", n)
	}
	r.container = r.deploy.Spec.Template.Spec.Containers[0]
	if len(r.container.Args) == 0 || r.container.Args[0] != "serve" {
		t.Fatalf("container args must start with serve: %v", r.container.Args)
	}
	for _, a := range r.container.Args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(k, "--") {
			t.Fatalf("argument %q: write flags as --name=value", a)
		}
		if _, dup := r.args[k]; dup {
			t.Fatalf("flag %s given twice", k)
		}
		r.args[k] = v
	}
	return r
}

func (r *rendered) port(t *testing.T, name string) int32 {
	t.Helper()
	for _, p := range r.container.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port named %q", name)
	return 0
}

func (r *rendered) volumeFor(t *testing.T, path string) corev1.Volume {
	t.Helper()
	for _, m := range r.container.VolumeMounts {
		if m.MountPath == path {
			for _, v := range r.deploy.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
		}
	}
	t.Fatalf("nothing is mounted at %s", path)
	return corev1.Volume{}
}

// serveFlags are the flags `sealgate serve --help` lists.
func serveFlags(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(sealgate, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("sealgate serve --help: %v\n%s", err, out)
	}
	return regexp.MustCompile(`--[a-z][a-z0-9-]+`).FindAllString(string(out), -1)
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		t.Fatalf("address %q has no port", addr)
	}
	return p
}

// TestDeploymentAgreesWithChart: in every scenario the arguments the chart gives sealgate name the
// objects the chart renders (webhook configuration, Service, Secret, ports, mounts), every flag exists in
// the sealgate binary, and RBAC covers exactly the objects named.
func TestDeploymentAgreesWithChart(t *testing.T) {
	flags := serveFlags(t)
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			r := inspect(t, renderScenario(t, s))
			for k := range r.args {
				if !slices.Contains(flags, k) {
					t.Errorf("sealgate serve has no flag %s", k)
				}
			}
			want := map[string]string{
				"--namespace":           releaseNS,
				"--webhook-config-name": r.vwc.Name,
				"--service-name":        r.service.Name,
			}
			for k, v := range want {
				if r.args[k] != v {
					t.Errorf("%s=%q, want %q", k, r.args[k], v)
				}
			}
			// Ports: the Service's 443 reaches the webhook port; probes and metrics use theirs.
			if got := portOf(t, ":"+r.args["--port"]); got != itoa(r.port(t, "https")) {
				t.Errorf("--port=%s but the container port https is %d", got, r.port(t, "https"))
			}
			if got := portOf(t, r.args["--health-probe-bind-address"]); got != itoa(r.port(t, "health")) {
				t.Errorf("health address port %s, container port health %d", got, r.port(t, "health"))
			}
			svcPorts := map[string]corev1.ServicePort{}
			for _, p := range r.service.Spec.Ports {
				svcPorts[p.Name] = p
			}
			if p := svcPorts["https"]; p.Port != 443 || p.TargetPort != intstr.FromString("https") {
				t.Errorf("Service port https = %+v, want 443 -> https", p)
			}
			checkMetricsExposure(t, r)
			for k, v := range r.service.Spec.Selector {
				if r.deploy.Spec.Template.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not match the pods", k, v)
				}
			}
			if rp := r.container.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" || rp.HTTPGet.Port != intstr.FromString("health") {
				t.Errorf("readiness probe = %+v, want GET /readyz on port health", rp)
			}
			if lp := r.container.LivenessProbe; lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" || lp.HTTPGet.Port != intstr.FromString("health") {
				t.Errorf("liveness probe = %+v, want GET /healthz on port health", lp)
			}
			// Shutdown: the last admission accepted during the delay can finish before SIGKILL.
			delay, err := time.ParseDuration(r.args["--shutdown-delay"])
			if err != nil {
				t.Fatal(err)
			}
			grace := time.Duration(*r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
			timeout := time.Duration(*r.vwc.Webhooks[0].TimeoutSeconds) * time.Second
			if delay <= 0 || grace < delay+timeout {
				t.Errorf("shutdown delay %s, webhook timeout %s, grace period %s: want delay > 0 and grace >= delay + timeout", delay, timeout, grace)
			}
			// Signature verification ends before the API server stops waiting for the webhook.
			if sig, err := time.ParseDuration(r.args["--signature-timeout"]); err != nil || sig >= timeout {
				t.Errorf("--signature-timeout=%s, want below the webhook timeout %s", r.args["--signature-timeout"], timeout)
			}
			// Drained before the kubelet's SIGKILL.
			if g, err := time.ParseDuration(r.args["--shutdown-grace"]); err != nil || g <= 0 || delay+g > grace {
				t.Errorf("--shutdown-grace=%s with delay %s, grace period %s: want positive and delay + it <= the grace period",
					r.args["--shutdown-grace"], delay, grace)
			}
			// Files sealgate is pointed at are mounted.
			for _, flag := range []string{"--registry-ca-file", "--client-ca-file"} {
				if f, ok := r.args[flag]; ok {
					r.volumeFor(t, filepath.Dir(f))
				}
			}
			for _, e := range r.container.Env {
				if e.Name == "DOCKER_CONFIG" {
					r.volumeFor(t, e.Value)
				}
			}
			// Identity.
			var sa corev1.ServiceAccount
			r.m.one(t, "ServiceAccount", &sa)
			if r.deploy.Spec.Template.Spec.ServiceAccountName != sa.Name {
				t.Errorf("pods run as %q, the chart's ServiceAccount is %q", r.deploy.Spec.Template.Spec.ServiceAccountName, sa.Name)
			}
			var pdb policyv1.PodDisruptionBudget
			r.m.one(t, "PodDisruptionBudget", &pdb)
			for k, v := range pdb.Spec.Selector.MatchLabels {
				if r.deploy.Spec.Template.Labels[k] != v {
					t.Errorf("PodDisruptionBudget selector %s=%s does not match the pods", k, v)
				}
			}
			checkSigningRole(t, r, sa.Name)
			checkLeaderElectionRole(t, r)
			certs := r.volumeFor(t, r.args["--cert-dir"])
			switch r.args["--cert-mode"] {
			case "self":
				checkSelfCerts(t, r, certs)
			case "external":
				checkExternalCerts(t, r, s, certs)
			default:
				t.Errorf("--cert-mode=%q", r.args["--cert-mode"])
			}
		})
	}
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// checkSelfCerts: sealgate writes the certificate into an emptyDir from a Secret the chart owns; only
// that Secret and this release's webhook configuration are writable.
func checkSelfCerts(t *testing.T, r *rendered, certs corev1.Volume) {
	t.Helper()
	if certs.EmptyDir == nil {
		t.Errorf("cert dir is %+v, want an emptyDir", certs.VolumeSource)
	}
	name := r.args["--cert-secret"]
	var secret corev1.Secret
	if !r.m.named(t, "Secret", name, &secret) {
		t.Errorf("--cert-secret=%s but the chart renders no such Secret", name)
	}
	var role rbacv1.Role
	if !r.m.named(t, "Role", r.deploy.Name, &role) {
		t.Fatalf("self-managed certificates but no Role %s", r.deploy.Name)
	}
	if role.Namespace != releaseNS {
		t.Errorf("Role in %q, want the release namespace", role.Namespace)
	}
	var writable []string
	for _, rule := range role.Rules {
		if slices.Contains(rule.Verbs, "update") {
			writable = append(writable, rule.ResourceNames...)
			if len(rule.ResourceNames) == 0 {
				t.Errorf("Role grants update on every Secret: %+v", rule)
			}
		}
	}
	if !slices.Equal(writable, []string{name}) {
		t.Errorf("Role lets sealgate update Secrets %v, want only %s", writable, name)
	}
	var vwcWrite []string
	for _, rule := range r.clusterRole.Rules {
		if slices.Contains(rule.Resources, "validatingwebhookconfigurations") && slices.Contains(rule.Verbs, "update") {
			vwcWrite = append(vwcWrite, rule.ResourceNames...)
		}
	}
	if !slices.Equal(vwcWrite, []string{r.vwc.Name}) {
		t.Errorf("ClusterRole lets sealgate update webhook configurations %v, want only %s", vwcWrite, r.vwc.Name)
	}
}

// checkExternalCerts: the Secret cert-manager or the user provides is mounted read-only, and sealgate
// gets no access to Secrets and may only get its own webhook configuration (the audit reads its
// selectors), and update it only to write its matchConditions.
func checkExternalCerts(t *testing.T, r *rendered, s scenario, certs corev1.Volume) {
	t.Helper()
	if certs.Secret == nil {
		t.Fatalf("cert dir is %+v, want a Secret", certs.VolumeSource)
	}
	if s.name == "cert-manager" {
		var cert struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				SecretName string `json:"secretName"`
			} `json:"spec"`
		}
		want := r.vwc.Annotations["cert-manager.io/inject-ca-from"]
		ns, name, _ := strings.Cut(want, "/")
		for _, o := range r.m {
			if k, n := kindName(o); k == "Certificate" && n == name {
				decodeLoose(t, o, &cert)
			}
		}
		if ns != releaseNS || cert.Metadata.Name == "" {
			t.Fatalf("cert-manager.io/inject-ca-from=%q names no rendered Certificate", want)
		}
		if cert.Spec.SecretName != certs.Secret.SecretName {
			t.Errorf("Certificate writes %q, the pod mounts %q", cert.Spec.SecretName, certs.Secret.SecretName)
		}
	}
	if len(r.vwc.Webhooks[0].ClientConfig.CABundle) == 0 && r.vwc.Annotations["cert-manager.io/inject-ca-from"] == "" {
		t.Error("external certificates but neither a caBundle nor a CA injection annotation")
	}
	for _, k := range r.m.kinds() {
		name, ok := strings.CutPrefix(k, "Role/")
		if !ok || name == r.deploy.Name+"-signing" {
			continue
		}
		var role rbacv1.Role
		r.m.named(t, "Role", name, &role)
		for _, rule := range role.Rules {
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("Role %s grants %+v: external certificates need no access to Secrets beyond the signing material", name, rule)
			}
		}
	}
	for _, rule := range r.clusterRole.Rules {
		if slices.Contains(rule.Resources, "secrets") {
			t.Errorf("ClusterRole grants %+v; external certificates need none", rule)
		}
		// With webhook.matchConditions sealgate writes the workload webhook's matchConditions, and
		// nothing else of the configuration; without, it only reads it.
		want := []string{"get"}
		if r.args["--match-conditions"] == "true" {
			want = []string{"get", "update", "patch"}
		}
		if slices.Contains(rule.Resources, "validatingwebhookconfigurations") &&
			(!slices.Equal(rule.Verbs, want) || !slices.Equal(rule.ResourceNames, []string{r.vwc.Name})) {
			t.Errorf("ClusterRole grants %+v; external certificates with --match-conditions=%s need %v on %s only",
				rule, r.args["--match-conditions"], want, r.vwc.Name)
		}
	}
}

// checkSigningRole: in every mode, sealgate may get (only get) Secrets and ConfigMaps in its own
// namespace, where attestor keys (secretRef) and trusted roots (trustedRootRef) are kept, bound to its
// ServiceAccount.
func checkSigningRole(t *testing.T, r *rendered, sa string) {
	t.Helper()
	name := r.deploy.Name + "-signing"
	var role rbacv1.Role
	if !r.m.named(t, "Role", name, &role) {
		t.Fatalf("no Role %s for signing material", name)
	}
	if role.Namespace != releaseNS {
		t.Errorf("Role %s in %q, want the release namespace", name, role.Namespace)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get"}}}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("Role %s grants %+v, want exactly %+v", name, role.Rules, want)
	}
	var rb rbacv1.RoleBinding
	if !r.m.named(t, "RoleBinding", name, &rb) {
		t.Fatalf("no RoleBinding %s", name)
	}
	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: releaseNS}}
	if rb.Namespace != releaseNS || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != name || !reflect.DeepEqual(rb.Subjects, wantSubjects) {
		t.Errorf("RoleBinding %s: namespace %q, roleRef %+v, subjects %+v; want Role %s bound to %+v in %s",
			name, rb.Namespace, rb.RoleRef, rb.Subjects, name, wantSubjects, releaseNS)
	}
}

func decodeLoose(t *testing.T, obj map[string]any, out any) {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// TestImageMatchesDockerfile: the chart runs the image the Dockerfile builds: the entrypoint is the
// sealgate binary (the chart passes "serve" and flags), the user is the chart's runAsUser, and the default
// image is ghcr.io/sealgate/sealgate at the chart's appVersion.
func TestImageMatchesDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "FROM gcr.io/distroless/static", ":nonroot", "USER 65532:65532", `ENTRYPOINT ["/sealgate"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	cb, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(cb, &chart); err != nil {
		t.Fatal(err)
	}
	r := inspect(t, render(t))
	if want := "ghcr.io/sealgate/sealgate:" + chart.AppVersion; r.container.Image != want {
		t.Errorf("default image %q, want %q", r.container.Image, want)
	}
	if u := r.container.SecurityContext.RunAsUser; u == nil || *u != 65532 {
		t.Errorf("container runAsUser %v, want the Dockerfile's 65532", u)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	r = inspect(t, render(t, "--set", "image.tag=1.2.3", "--set", "image.digest="+digest))
	if want := "ghcr.io/sealgate/sealgate@" + digest; r.container.Image != want {
		t.Errorf("with a digest the image is %q, want %q (the digest wins over the tag)", r.container.Image, want)
	}
}
