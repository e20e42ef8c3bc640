//go:build helm

package helm

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// What the chart exposes on the network, and to whom: the NetworkPolicy, /metrics, client
// certificates on the webhook port, and the leader-election Lease.

// TestNetworkPolicyDefault: a plain install isolates the pods for ingress: the webhook port is open to
// any source (the API server is rarely a pod network peer), the metrics port to no one, and nothing
// else is listed. Egress is not restricted.
func TestNetworkPolicyDefault(t *testing.T) {
	r := inspect(t, render(t))
	np := networkPolicy(t, r)
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Egress) != 0 {
		t.Errorf("policyTypes %v, egress %v: want Ingress only", np.Spec.PolicyTypes, np.Spec.Egress)
	}
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("want one ingress rule (the webhook port), got %+v", np.Spec.Ingress)
	}
	rule := np.Spec.Ingress[0]
	if got := rulePorts(t, rule); !slices.Equal(got, []int32{r.port(t, "https")}) {
		t.Errorf("the rule opens ports %v, want only the webhook port %d", got, r.port(t, "https"))
	}
	if len(rule.From) != 0 {
		t.Errorf("the webhook port is open to %+v; by default it must be open to any source", rule.From)
	}
	if r.port(t, "metrics") == r.port(t, "https") || r.port(t, "health") == r.port(t, "https") {
		t.Fatal("the metrics or health port is the webhook port")
	}
}

// TestNetworkPolicyPeers: the values name who may call the webhook and who may scrape; the rules
// carry exactly those peers, and networkPolicy.enabled=false renders no policy.
func TestNetworkPolicyPeers(t *testing.T) {
	apiServer := `[{"ipBlock":{"cidr":"10.0.0.0/24","except":["10.0.0.1/32"]}}]`
	prometheus := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}},"podSelector":{"matchLabels":{"app":"prometheus"}}}]`
	r := inspect(t, render(t, "--set-json", "networkPolicy.webhook.from="+apiServer, "--set-json", "networkPolicy.metrics.from="+prometheus))
	np := networkPolicy(t, r)
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("want two ingress rules (webhook, metrics), got %+v", np.Spec.Ingress)
	}
	for i, c := range []struct {
		port  int32
		peers string
	}{{r.port(t, "https"), apiServer}, {r.port(t, "metrics"), prometheus}} {
		var want []networkingv1.NetworkPolicyPeer
		if err := yaml.UnmarshalStrict([]byte(c.peers), &want); err != nil {
			t.Fatal(err)
		}
		rule := np.Spec.Ingress[i]
		if got := rulePorts(t, rule); !slices.Equal(got, []int32{c.port}) {
			t.Errorf("rule %d opens %v, want %d", i, got, c.port)
		}
		if !reflect.DeepEqual(rule.From, want) {
			t.Errorf("rule %d (port %d) admits %+v, want %+v", i, c.port, rule.From, want)
		}
	}

	for _, k := range parse(t, render(t, "--set", "networkPolicy.enabled=false")).kinds() {
		if strings.HasPrefix(k, "NetworkPolicy/") {
			t.Errorf("%s rendered with networkPolicy.enabled=false", k)
		}
	}
}

func networkPolicy(t *testing.T, r *rendered) networkingv1.NetworkPolicy {
	t.Helper()
	var np networkingv1.NetworkPolicy
	r.m.one(t, "NetworkPolicy", &np)
	if np.Namespace != releaseNS {
		t.Errorf("NetworkPolicy in %q, want the release namespace", np.Namespace)
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 || len(np.Spec.PodSelector.MatchExpressions) != 0 {
		t.Errorf("NetworkPolicy selects %+v; want the pods' labels", np.Spec.PodSelector)
	}
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if r.deploy.Spec.Template.Labels[k] != v {
			t.Errorf("NetworkPolicy selector %s=%s does not match the pods", k, v)
		}
	}
	return np
}

// rulePorts lists a rule's ports as numbers; a named port is resolved against the container's.
func rulePorts(t *testing.T, rule networkingv1.NetworkPolicyIngressRule) []int32 {
	t.Helper()
	var out []int32
	for _, p := range rule.Ports {
		if p.Port == nil || p.EndPort != nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
			t.Errorf("rule port %+v: want one TCP port", p)
			continue
		}
		if p.Port.Type == intstr.String {
			t.Errorf("rule port %q: write the number, so the policy reads without the Deployment", p.Port.StrVal)
		}
		out = append(out, p.Port.IntVal)
	}
	return out
}

// TestMetricsSecureByDefault: a plain install serves /metrics over HTTPS on a Service port, with the
// RBAC sealgate needs to ask the API server about scrapers and a role for users to grant scraping; the
// ServiceMonitor scrapes over HTTPS with Prometheus's token.
func TestMetricsSecureByDefault(t *testing.T) {
	r := inspect(t, render(t))
	if r.args["--metrics-secure"] != "true" {
		t.Errorf("--metrics-secure=%q, want true by default", r.args["--metrics-secure"])
	}
	checkMetricsExposure(t, r)

	m := parse(t, renderScenario(t, scenarioNamed(t, "monitoring")))
	var sm struct {
		Spec struct {
			Endpoints []struct {
				Port, Path, Scheme, BearerTokenFile string
				TLSConfig                           struct {
					InsecureSkipVerify bool `json:"insecureSkipVerify"`
				} `json:"tlsConfig"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	found := false
	for _, o := range m {
		if k, _ := kindName(o); k == "ServiceMonitor" {
			decodeLoose(t, o, &sm)
			found = true
		}
	}
	if !found || len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one ServiceMonitor with one endpoint, got %+v (objects %v)", sm, m.kinds())
	}
	e := sm.Spec.Endpoints[0]
	if e.Port != "metrics" || e.Path != "/metrics" || e.Scheme != "https" ||
		e.BearerTokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" || !e.TLSConfig.InsecureSkipVerify {
		t.Errorf("ServiceMonitor endpoint %+v: want port metrics, https, Prometheus's token, the self-signed certificate accepted", e)
	}
}

// TestMetricsInsecureBindsLoopback: with metrics.secure=false, /metrics listens on the pod's loopback
// only: no container or Service port, no network policy rule, no authentication RBAC.
func TestMetricsInsecureBindsLoopback(t *testing.T) {
	r := inspect(t, render(t, "--set", "metrics.secure=false"))
	if _, ok := r.args["--metrics-secure"]; ok {
		t.Errorf("--metrics-secure=%s with metrics.secure=false", r.args["--metrics-secure"])
	}
	checkMetricsExposure(t, r)
	if host, _, err := net.SplitHostPort(r.args["--metrics-bind-address"]); err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("--metrics-bind-address=%s, want a loopback address", r.args["--metrics-bind-address"])
	}
	for _, rule := range networkPolicy(t, r).Spec.Ingress {
		if !slices.Equal(rulePorts(t, rule), []int32{r.port(t, "https")}) {
			t.Errorf("network policy rule %+v opens more than the webhook port", rule)
		}
	}
}

// checkMetricsExposure: secure metrics are one container port, one Service port and the RBAC of the
// metrics filter; otherwise /metrics is on loopback and nothing exposes or authorizes it.
func checkMetricsExposure(t *testing.T, r *rendered) {
	t.Helper()
	addr := r.args["--metrics-bind-address"]
	var svc *corev1.ServicePort
	for i, p := range r.service.Spec.Ports {
		if p.Name == "metrics" {
			svc = &r.service.Spec.Ports[i]
		}
	}
	var auth, reader rbacv1.ClusterRole
	hasAuth := r.m.named(t, "ClusterRole", r.deploy.Name+"-metrics-auth", &auth)
	hasReader := r.m.named(t, "ClusterRole", r.deploy.Name+"-metrics-reader", &reader)
	if r.args["--metrics-secure"] != "true" {
		host, _, err := net.SplitHostPort(addr)
		if addr != "0" && (err != nil || !net.ParseIP(host).IsLoopback()) {
			t.Errorf("plain-HTTP metrics on %q: want loopback only", addr)
		}
		for _, p := range r.container.Ports {
			if p.Name == "metrics" {
				t.Errorf("container port %+v for metrics that listen on loopback", p)
			}
		}
		if svc != nil || hasAuth || hasReader {
			t.Errorf("loopback metrics, yet Service port %+v, metrics-auth role %t, metrics-reader role %t", svc, hasAuth, hasReader)
		}
		return
	}
	if got := portOf(t, addr); got != itoa(r.port(t, "metrics")) {
		t.Errorf("metrics address port %s, container port metrics %d", got, r.port(t, "metrics"))
	}
	if svc == nil || svc.TargetPort != intstr.FromString("metrics") || svc.Port != r.port(t, "metrics") {
		t.Errorf("Service port metrics = %+v, want %d -> metrics", svc, r.port(t, "metrics"))
	}
	wantAuth := []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	if !hasAuth || !reflect.DeepEqual(auth.Rules, wantAuth) {
		t.Errorf("ClusterRole %s-metrics-auth (rendered: %t) grants %+v, want %+v", r.deploy.Name, hasAuth, auth.Rules, wantAuth)
	}
	checkBinding(t, r, "ClusterRoleBinding", r.deploy.Name+"-metrics-auth", "ClusterRole")
	wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if !hasReader || !reflect.DeepEqual(reader.Rules, wantReader) {
		t.Errorf("ClusterRole %s-metrics-reader (rendered: %t) grants %+v, want %+v", r.deploy.Name, hasReader, reader.Rules, wantReader)
	}
}

// checkBinding: the binding of that name grants the role of the same name to sealgate's
// ServiceAccount, and to nothing else.
func checkBinding(t *testing.T, r *rendered, kind, name, roleKind string) {
	t.Helper()
	var b rbacv1.RoleBinding // a ClusterRoleBinding decodes into the same fields
	if !r.m.named(t, kind, name, &b) {
		t.Errorf("no %s %s", kind, name)
		return
	}
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: r.deploy.Spec.Template.Spec.ServiceAccountName, Namespace: releaseNS}}
	if b.RoleRef.Kind != roleKind || b.RoleRef.Name != name || !reflect.DeepEqual(b.Subjects, want) {
		t.Errorf("%s %s: roleRef %+v, subjects %+v; want %s %s bound to %+v", kind, name, b.RoleRef, b.Subjects, roleKind, name, want)
	}
}

// checkLeaderElectionRole: in every mode, a Role in the release namespace lets sealgate create
// Leases, and get and update only the one --leader-election-id names, and record Events.
func checkLeaderElectionRole(t *testing.T, r *rendered) {
	t.Helper()
	if v, ok := r.args["--leader-elect"]; ok && v != "true" {
		t.Errorf("--leader-elect=%s: replicas would all write status", v)
	}
	lease := r.args["--leader-election-id"]
	if lease != r.deploy.Name {
		t.Errorf("--leader-election-id=%q, want the release's name %q", lease, r.deploy.Name)
	}
	name := r.deploy.Name + "-leader-election"
	var role rbacv1.Role
	if !r.m.named(t, "Role", name, &role) {
		t.Fatalf("no Role %s", name)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{lease}, Verbs: []string{"get", "update", "patch"}},
	}
	if role.Namespace != releaseNS || !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("Role %s in %q grants %+v, want %+v in %s", name, role.Namespace, role.Rules, want, releaseNS)
	}
	checkBinding(t, r, "RoleBinding", name, "Role")
}

// TestClientAuth: webhook.clientAuth.caBundle becomes a ConfigMap, mounted read-only, that
// --client-ca-file reads; without it, no client certificate is asked for.
func TestClientAuth(t *testing.T) {
	if r := inspect(t, render(t)); r.args["--client-ca-file"] != "" {
		t.Errorf("--client-ca-file=%s by default", r.args["--client-ca-file"])
	}
	s := scenarioNamed(t, "hardened")
	var values struct {
		Webhook struct {
			ClientAuth struct {
				CABundle string `json:"caBundle"`
			} `json:"clientAuth"`
		} `json:"webhook"`
	}
	b, err := os.ReadFile(s.values)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	r := inspect(t, renderScenario(t, s))
	file := r.args["--client-ca-file"]
	if file == "" {
		t.Fatal("webhook.clientAuth.caBundle set, but no --client-ca-file")
	}
	vol := r.volumeFor(t, filepath.Dir(file))
	for _, m := range r.container.VolumeMounts {
		if m.Name == vol.Name && !m.ReadOnly {
			t.Errorf("client CA mounted writable: %+v", m)
		}
	}
	if vol.ConfigMap == nil {
		t.Fatalf("client CA volume %+v, want a ConfigMap", vol.VolumeSource)
	}
	var cm corev1.ConfigMap
	if !r.m.named(t, "ConfigMap", vol.ConfigMap.Name, &cm) {
		t.Fatalf("the pod mounts ConfigMap %s, which the chart does not render", vol.ConfigMap.Name)
	}
	got := cm.Data[filepath.Base(file)]
	if strings.TrimSpace(got) != strings.TrimSpace(values.Webhook.ClientAuth.CABundle) {
		t.Errorf("ConfigMap %s holds %q at %s, want the values' caBundle", cm.Name, got, filepath.Base(file))
	}
	if block, _ := pem.Decode([]byte(got)); block == nil {
		t.Errorf("ConfigMap %s: no PEM block", cm.Name)
	} else if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Errorf("ConfigMap %s: %v", cm.Name, err)
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, s := range scenarios(t) {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s", name)
	return scenario{}
}

// TestReuseValuesFromOlderChart: `helm upgrade --reuse-values` renders with the previous chart's
// defaults, which lack the values this chart adds; the chart stops with the fix instead of a nil
// pointer, or instead of silently choosing an exposure. The previous defaults are simulated by a copy
// of the chart whose values.yaml lacks one of the new keys.
func TestReuseValuesFromOlderChart(t *testing.T) {
	for _, key := range [][]string{{"networkPolicy"}, {"metrics", "secure"}, {"webhook", "clientAuth"},
		{"audit"}, {"audit", "reportAPI"}, {"audit", "installReportCRDs"}} {
		t.Run(strings.Join(key, "."), func(t *testing.T) {
			old := filepath.Join(t.TempDir(), "sealgate")
			if err := os.CopyFS(old, os.DirFS(chartDir)); err != nil {
				t.Fatal(err)
			}
			var values map[string]any
			b, err := os.ReadFile(filepath.Join(old, "values.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, &values); err != nil {
				t.Fatal(err)
			}
			parent := values
			for _, k := range key[:len(key)-1] {
				parent = parent[k].(map[string]any)
			}
			delete(parent, key[len(key)-1])
			if b, err = yaml.Marshal(values); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(old, "values.yaml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, err := helm(t.Context(), "template", "sealgate", old, "--namespace", releaseNS)
			if err == nil || !strings.Contains(errOut, "upgrade with --reset-then-reuse-values") {
				t.Errorf("rendering without %s: err %v, want the --reset-then-reuse-values advice:\n%s%.300s", strings.Join(key, "."), err, errOut, out)
			}
		})
	}
}
