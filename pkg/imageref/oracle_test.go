package imageref

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// dockerRead is a test oracle: how docker, containerd and kubelet read an image
// reference (distribution/reference's ParseNormalizedNamed, then go-digest's check of
// the digest). It is built from the published grammar with the standard library's
// regexp, independently of the scanners under test, and is slow, which is why it is
// only a test. Parse must never accept what the oracle rejects, nor read an accepted
// reference differently.
func dockerRead(s string) (Reference, bool) {
	if dockerImageID.MatchString(s) {
		return Reference{}, false
	}
	domain, remainder := dockerSplitDomain(s)
	remote, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(remote) != remote {
		return Reference{}, false
	}
	m := dockerReference.FindStringSubmatch(domain + "/" + remainder)
	if m == nil || len(m[1]) > 255 {
		return Reference{}, false
	}
	// m: 1 name, 2 domain, 3 path, 4 tag, 5 digest.
	if m[5] != "" {
		alg, hex, _ := strings.Cut(m[5], ":")
		want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
		if want == 0 || len(hex) != want || strings.ToLower(hex) != hex {
			return Reference{}, false
		}
	}
	return Reference{Registry: m[2], Repository: m[3], Tag: m[4], Digest: m[5]}, true
}

// dockerSplitDomain is docker's rule for where the registry host ends, including its
// quirk of taking any upper-case first component as a host.
func dockerSplitDomain(name string) (domain, remainder string) {
	first, rest, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		return "docker.io", "library/" + name
	case first == "localhost", strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		domain, remainder = first, rest
	default:
		domain, remainder = "docker.io", name
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(remainder, "/") {
		remainder = "library/" + remainder
	}
	return domain, remainder
}

var (
	dockerImageID   = regexp.MustCompile(`^[a-f0-9]{64}$`)
	dockerReference = func() *regexp.Regexp {
		const (
			component = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
			path      = component + `(?:/` + component + `)*`
			label     = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			host      = `(?:` + label + `(?:\.` + label + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
			tag       = `[\w][\w.-]{0,127}`
			digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
		)
		return regexp.MustCompile(`^((?:(` + host + `)/)?(` + path + `))(?::(` + tag + `))?(?:@(` + digest + `))?$`)
	}()
)

// checkAgainstDocker fails t if Parse accepted s but docker would reject it or read it
// differently. Registries are compared after the host normalizations Parse documents
// (lower case, canonical IPv6), which do not change which server is contacted.
func checkAgainstDocker(t *testing.T, s string, got Reference) {
	t.Helper()
	want, ok := dockerRead(s)
	if !ok {
		t.Fatalf("Parse(%q) accepted a reference docker rejects: %+v", s, got)
	}
	want.Registry = strings.ToLower(want.Registry)
	if strings.HasPrefix(want.Registry, "[") {
		end := strings.IndexByte(want.Registry, ']')
		if a, err := netip.ParseAddr(want.Registry[1:end]); err == nil {
			want.Registry = "[" + a.String() + "]" + want.Registry[end+1:]
		}
	}
	if got != want {
		t.Fatalf("Parse(%q) = %+v, but docker reads %+v", s, got, want)
	}
}

// TestStricterThanDocker lists what docker accepts and Parse deliberately refuses, so
// that each refusal is a decision on record rather than an accident.
func TestStricterThanDocker(t *testing.T) {
	for _, s := range []string{
		"UPPER/case",          // docker: a host named "UPPER"
		"Acme/app",            // ditto
		"DOCKER.IO/nginx",     // docker: the literal host DOCKER.IO, repository "nginx", not Hub
		"registry:05000/app",  // a second spelling of port 5000
		"registry:0/app",      // not a port
		"registry:70000/app",  // not a port
		"[::ffff:7f00:1]/app", // IPv4-mapped IPv6
		"[1:2:3]/app",         // not an IPv6 address
	} {
		if _, ok := dockerRead(s); !ok {
			t.Errorf("the oracle rejects %q; this list is for what docker accepts", s)
		}
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted it, want a refusal", s)
		}
	}
}
