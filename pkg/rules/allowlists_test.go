package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// TestAllowlistKnobsValidate: the allowlist knobs of spec.containers (allowedHostPorts,
// allowedSysctls, allowedHostPaths, allowedLocalhostProfiles) reject what they could not enforce as
// written, each error at its field.
func TestAllowlistKnobsValidate(t *testing.T) {
	long := "/" + strings.Repeat("a", 4096)
	for _, tc := range []struct {
		name string
		c    v1alpha1.ContainerRules
		want []string // "field: detail"
	}{
		{"valid", v1alpha1.ContainerRules{
			AllowedHostPorts:         []v1alpha1.PortRange{{Min: 1, Max: 65535}, {Min: 80, Max: 80}},
			AllowedSysctls:           []string{"*", "kernel.shm_rmid_forced", "net.*", "kernel.shm*", "net/ipv4/*", "net.ipv4.conf.eno2/100.rp_filter"},
			AllowedHostPaths:         []v1alpha1.AllowedHostPath{{PathPrefix: "/"}, {PathPrefix: "/var/log/", ReadOnly: true}},
			AllowedLocalhostProfiles: []string{"*", "profile.json", "profiles/*", "profiles/audit-*", "a/b/c.json"},
		}, nil},
		{"empty lists", v1alpha1.ContainerRules{
			AllowedHostPorts: []v1alpha1.PortRange{}, AllowedSysctls: []string{},
			AllowedHostPaths: []v1alpha1.AllowedHostPath{}, AllowedLocalhostProfiles: []string{},
		}, []string{
			"spec.containers.allowedHostPaths: Required value",
			"spec.containers.allowedHostPorts: Required value",
			"spec.containers.allowedLocalhostProfiles: Required value",
			"spec.containers.allowedSysctls: Required value",
		}},
		{"port ranges", v1alpha1.ContainerRules{AllowedHostPorts: []v1alpha1.PortRange{
			{Min: 0, Max: 80}, {Min: 90, Max: 80}, {Min: 1, Max: 65536}, {Min: -1, Max: 0},
		}}, []string{
			"spec.containers.allowedHostPorts[0].min: Invalid value: 0: must be a port between 1 and 65535",
			"spec.containers.allowedHostPorts[1].max: Invalid value: 80: must be at least min (90)",
			"spec.containers.allowedHostPorts[2].max: Invalid value: 65536: must be a port between 1 and 65535",
			"spec.containers.allowedHostPorts[3].min: Invalid value: -1: must be a port between 1 and 65535",
			"spec.containers.allowedHostPorts[3].max: Invalid value: 0: must be a port between 1 and 65535",
		}},
		{"sysctl names", v1alpha1.ContainerRules{AllowedSysctls: []string{
			"Net.core", "net..core", "net.*.x", "**", "net.core.", ".net", "kernel.shm_rmid_forced ", "*net",
			"a." + strings.Repeat("b", 252),
		}}, []string{
			"spec.containers.allowedSysctls[0]", "spec.containers.allowedSysctls[1]", "spec.containers.allowedSysctls[2]",
			"spec.containers.allowedSysctls[3]", "spec.containers.allowedSysctls[4]", "spec.containers.allowedSysctls[5]",
			"spec.containers.allowedSysctls[6]", "spec.containers.allowedSysctls[7]", "spec.containers.allowedSysctls[8]",
		}},
		{"host path prefixes", v1alpha1.ContainerRules{AllowedHostPaths: []v1alpha1.AllowedHostPath{
			{PathPrefix: "var/log"}, {PathPrefix: "/var/../etc"}, {PathPrefix: long}, {PathPrefix: `C:\logs`},
		}}, []string{
			"spec.containers.allowedHostPaths[0].pathPrefix", "spec.containers.allowedHostPaths[1].pathPrefix",
			"spec.containers.allowedHostPaths[2].pathPrefix", "spec.containers.allowedHostPaths[3].pathPrefix",
		}},
		{"localhost profiles", v1alpha1.ContainerRules{AllowedLocalhostProfiles: []string{
			"/etc/seccomp/a.json", "../a.json", "profiles/../a.json", "./a.json", "a//b.json", "pro*files/a.json", "**", ".",
			"profiles/", strings.Repeat("a", 4096),
		}}, []string{
			"spec.containers.allowedLocalhostProfiles[0]", "spec.containers.allowedLocalhostProfiles[1]",
			"spec.containers.allowedLocalhostProfiles[2]", "spec.containers.allowedLocalhostProfiles[3]",
			"spec.containers.allowedLocalhostProfiles[4]", "spec.containers.allowedLocalhostProfiles[5]",
			"spec.containers.allowedLocalhostProfiles[6]", "spec.containers.allowedLocalhostProfiles[7]",
			"spec.containers.allowedLocalhostProfiles[8]", "spec.containers.allowedLocalhostProfiles[9]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			_, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"},
				Spec: v1alpha1.PolicySpec{Containers: &c}})
			var got []string
			if err != nil {
				var inv *policy.InvalidError
				if !errors.As(err, &inv) {
					t.Fatalf("error %T %v, want *policy.InvalidError", err, err)
				}
				for i, e := range inv.Errs {
					// Compare as much of each error as the case spells out.
					s := e.Error()
					if i < len(tc.want) && len(s) > len(tc.want[i]) {
						s = s[:len(tc.want[i])]
					}
					got = append(got, s)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSysctlNormalization: names are compared as the kubelet reads them (k8s.io/component-helpers
// node/util/sysctl.NormalizeName: when the first separator is '/', '/' and '.' are swapped).
func TestSysctlNormalization(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"net.ipv4.ip_local_port_range", "net.ipv4.ip_local_port_range"},
		{"net/ipv4/ip_local_port_range", "net.ipv4.ip_local_port_range"},
		{"net/ipv4/conf/eno2.100/rp_filter", "net.ipv4.conf.eno2/100.rp_filter"},
		{"net.ipv4.conf.eno2/100.rp_filter", "net.ipv4.conf.eno2/100.rp_filter"},
		{"kernel", "kernel"},
	} {
		if got := normalizeSysctl(tc.in); got != tc.want {
			t.Errorf("normalizeSysctl(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// The comparison without building the string agrees with the normalized form.
		if !sysctlHasPrefix(tc.in, tc.want, sysctlSlashFirst(tc.in)) {
			t.Errorf("sysctlHasPrefix(%q, %q) = false", tc.in, tc.want)
		}
	}
	a := &sysctlAllowlist{names: []string{"net.ipv4.ip_local_port_range"}, prefixes: []string{"kernel.shm"}}
	for name, want := range map[string]bool{
		"net/ipv4/ip_local_port_range": true, "net.ipv4.ip_local_port_range": true,
		"net.ipv4.ip_local_port_range2": false, "net/ipv4.ip_local_port_range": false,
		"kernel/shmmax": true, "kernel.shm": true, "kernel.sh": false, "kernel/sem": false,
	} {
		if got := a.allows(name); got != want {
			t.Errorf("allows(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestHostPathMatching: prefixes cover whole segments, and ".." never passes.
func TestHostPathMatching(t *testing.T) {
	a := &hostPathAllowlist{prefixes: []hostPathPrefix{{path: "/var/log", readOnly: true}, {path: "/var/log/app"}, {path: "/data"}}}
	for _, tc := range []struct {
		path              string
		allowed, readOnly bool
	}{
		{"/var/log", true, true},
		{"/var/log/", true, true},
		{"/var/log/pods", true, true},
		{"/var//log/./pods", true, true},
		{"/var/log/app", true, false},
		{"/var/log/app/current", true, false},
		{"/var/log/application", true, true},
		{"/var/logs", false, false},
		{"/var", false, false},
		{"/var/log/../../etc", false, false},
		{"/data/..", false, false},
		{"/data/..x", true, false},
		{"data", false, false},
		{"", false, false},
		{`C:\data`, false, false},
	} {
		allowed, readOnly := a.match(tc.path)
		if allowed != tc.allowed || readOnly != tc.readOnly {
			t.Errorf("match(%q) = %v, %v; want %v, %v", tc.path, allowed, readOnly, tc.allowed, tc.readOnly)
		}
	}
}
