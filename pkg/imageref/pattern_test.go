package imageref

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompilePattern(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx"},
		{"library/nginx", "docker.io/library/nginx"},
		{"docker.io/nginx", "docker.io/library/nginx"},
		{"index.docker.io/library/nginx", "docker.io/library/nginx"},
		{"acme/*", "docker.io/acme/*"},
		{"docker.io/acme/*", "docker.io/acme/*"},
		{"docker.io/*", "docker.io/library/*"},
		{"docker.io/**", "docker.io/**"},
		{"docker.io/*/*", "docker.io/*/*"},
		{"docker.io/library/**", "docker.io/library/**"},
		{"registry.example.com/**", "registry.example.com/**"},
		{"REGISTRY.Example.COM/team/**", "registry.example.com/team/**"},
		{"registry.example.com:5000/*/app", "registry.example.com:5000/*/app"},
		{"ghcr.io/acme/*", "ghcr.io/acme/*"},
		{"ghcr.io/*/*/**", "ghcr.io/*/*/**"},
		{"localhost:5000/**", "localhost:5000/**"},
		{"localhost/app", "localhost/app"},
		{"[0::1]:5000/**", "[::1]:5000/**"},
		{"r.io/" + strings.Repeat("a", 250) + "/**", "r.io/" + strings.Repeat("a", 250) + "/**"},
		// Pinned to a tag (kept as written: tags are case-sensitive) or a digest.
		{"ubuntu:24.04", "docker.io/library/ubuntu:24.04"},
		{"docker.io/library/ubuntu:24.04", "docker.io/library/ubuntu:24.04"},
		{"index.docker.io/ubuntu:24.04", "docker.io/library/ubuntu:24.04"},
		{"REGISTRY.example.com/app:V1_RC", "registry.example.com/app:V1_RC"},
		{"localhost:5000/app:dev", "localhost:5000/app:dev"},
		{"[0::1]:5000/app:1", "[::1]:5000/app:1"},
		{"ghcr.io/acme/*:stable", "ghcr.io/acme/*:stable"},
		{"registry.example.com/**:latest", "registry.example.com/**:latest"},
		{"nginx@" + d256, "docker.io/library/nginx@" + d256},
		{"ghcr.io/acme/app@" + d512, "ghcr.io/acme/app@" + d512},
		{"r.io/" + strings.Repeat("a", 250) + ":" + strings.Repeat("t", 128), "r.io/" + strings.Repeat("a", 250) + ":" + strings.Repeat("t", 128)},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.in)
		if err != nil {
			t.Errorf("CompilePattern(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, p.String()); diff != "" {
			t.Errorf("CompilePattern(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		again, err := CompilePattern(p.String())
		if err != nil || again != p {
			t.Errorf("CompilePattern(%q).String() = %q does not round-trip: %v, %v", tt.in, p, again, err)
		}
	}
}

func TestCompilePatternInvalid(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", "pattern is empty"},
		{"*.example.com/**", "wildcards are not allowed in the registry host"},
		{"registry.*.com/**", "wildcards are not allowed in the registry host"},
		{"*:5000/**", "wildcards are not allowed in the registry host"},
		{"ghcr.io/acme-*", "'*' must be a whole path segment"},
		{"ghcr.io/*acme/app", "'*' must be a whole path segment"},
		{"ghcr.io/***", "'*' must be a whole path segment"},
		{"ghcr.io/**/app", "'**' must be the last path segment"},
		{"ghcr.io/**/**", "'**' must be the last path segment"},
		{"*", "must name its registry first"},
		{"**", "must name its registry first"},
		{"*/app", "must name its registry first"},
		{"**/app", "must name its registry first"},
		{"nginx:1.27@" + d256, `not both: the digest is what runs; write "nginx@` + d256 + `"`},
		{"ubuntu:24.*", "wildcards are not allowed in a tag"},
		{"ubuntu:*", "wildcards are not allowed in a tag"},
		{"ghcr.io/acme/*:*", "wildcards are not allowed in a tag"},
		{"ubuntu:", "tag is empty"},
		{"ubuntu:.x", "tag must start with"},
		{"ubuntu:a/b", "registry port \"a\" is not a number"}, // a ':' before the last '/' is host:port
		{"ubuntu:" + strings.Repeat("t", 129), "tag is longer than 128"},
		{"ubuntu@", "digest is empty"},
		{"ubuntu@sha256:abc", "must have 64 hex digits"},
		{"ubuntu@md5:" + hex64, "not supported"},
		{"ubuntu@" + strings.ToUpper(d256[:7]) + hex64, "not supported"},
		{"ghcr.io/acme/app@sha256:" + strings.ToUpper(hex64), "lower-case"},
		{"*:1.0", "must name its registry first"},
		{"*.example.com/app:1", "wildcards are not allowed in the registry host"},
		{"r.io/" + strings.Repeat("a", 251) + ":1", "can only match names longer than 255"},
		{"registry.example.com", `write "registry.example.com/**"`},
		{"localhost", `write "localhost/**"`},
		{"registry.example.com:5000", `write "registry.example.com:5000/**"`},
		{"localhost:5000", `write "localhost:5000/**"`},
		{"ghcr.io/Acme/*", "repository must be lower-case"},
		{"ghcr.io//x", "empty path component"},
		{"ghcr.io/acme/", "empty path component"},
		{"ghcr.io/", "empty path component"},
		{"ghcr.io:99999/**", "out of range"},
		{"https://ghcr.io/**", "URL scheme"},
		{"r" + cyrE + "gistry.example.com/**", "non-ASCII"},
		{"ghcr.io/acme /*", "whitespace"},
		{"DOCKER.IO/**", "docker hub host must be written in lower case"},
		{"r.io/" + strings.Repeat("a", 251), "can only match names longer than 255"},
		{"r.io/" + strings.Repeat("a", 250) + "/*", "can only match names longer than 255"},
		{"r.io/" + strings.Repeat("a", 251) + "/**", "can only match names longer than 255"},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.in)
		if err == nil {
			t.Errorf("CompilePattern(%q) = %q, want error containing %q", tt.in, p, tt.reason)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != "pattern" || !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("CompilePattern(%q): got %v, want reason containing %q", tt.in, err, tt.reason)
		}
	}
	_, err := CompilePattern("*.example.com/**")
	want := `invalid image pattern "*.example.com/**": wildcards are not allowed in the registry host; name the host exactly`
	if err == nil || err.Error() != want {
		t.Errorf("error message: got %v, want %s", err, want)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		ref     string
		want    bool
	}{
		// Host is compared parsed and exact: no string prefixes, ports matter, case does not.
		{"registry.example.com/**", "registry.example.com/x", true},
		{"registry.example.com/**", "registry.example.com/team/app:1@" + d256, true},
		{"registry.example.com/**", "REGISTRY.EXAMPLE.COM/x", true},
		{"registry.example.com/**", "registry.example.com.evil.io/x", false},
		{"registry.example.com/**", "registry.example.com:5000/x", false},
		{"registry.example.com/**", "evilregistry.example.com/x", false},
		{"registry.example.com/**", "example.com/x", false},
		{"registry.example.com/**", "registry.example.com", false}, // a Hub repository
		{"registry.example.com/**", "docker.io/registry.example.com/x", false},
		{"registry.example.com:5000/**", "registry.example.com:5000/x", true},
		{"registry.example.com:5000/**", "registry.example.com/x", false},
		{"registry.example.com:5000/**", "registry.example.com:50000/x", false},
		// "*" is exactly one whole segment.
		{"docker.io/acme/*", "acme/app", true},
		{"docker.io/acme/*", "docker.io/acme/app:1", true},
		{"docker.io/acme/*", "index.docker.io/acme/app", true},
		{"docker.io/acme/*", "docker.io/acmeevil/app", false},
		{"docker.io/acme/*", "docker.io/acme/app/sub", false},
		{"docker.io/acme/*", "docker.io/acme", false},
		{"docker.io/acme/*", "ghcr.io/acme/app", false},
		{"ghcr.io/acme/*", "ghcr.io/acme/app", true},
		{"ghcr.io/acme/*", "ghcr.io/acme", false},
		{"ghcr.io/*/app", "ghcr.io/acme/app", true},
		{"ghcr.io/*/app", "ghcr.io/acme/app2", false},
		{"ghcr.io/*/app", "ghcr.io/app", false},
		// "**" is zero or more trailing segments.
		{"ghcr.io/acme/**", "ghcr.io/acme", true},
		{"ghcr.io/acme/**", "ghcr.io/acme/app", true},
		{"ghcr.io/acme/**", "ghcr.io/acme/a/b/c", true},
		{"ghcr.io/acme/**", "ghcr.io/acmeevil/app", false},
		{"ghcr.io/acme/**", "ghcr.io/acme-evil", false},
		{"ghcr.io/*/**", "ghcr.io/acme", true},
		{"ghcr.io/*/*/**", "ghcr.io/acme", false},
		{"ghcr.io/*/*/**", "ghcr.io/acme/app", true},
		// Hub normalization applies to patterns too.
		{"nginx", "nginx", true},
		{"nginx", "docker.io/library/nginx:1.27", true},
		{"nginx", "index.docker.io/nginx@" + d256, true},
		{"nginx", "acme/nginx", false},
		{"nginx", "ghcr.io/nginx", false},
		{"nginx", "docker.io/library/nginx/sub", false},
		{"docker.io/library/nginx", "nginx", true},
		{"docker.io/*", "nginx", true},
		{"docker.io/*", "acme/app", false},
		{"docker.io/*/*", "nginx", true},
		{"docker.io/**", "acme/team/app", true},
		{"docker.io/**", "nginx", true},
		{"docker.io/**", "registry-1.docker.io/library/nginx", false},
		{"docker.io/**", "docker.io:443/library/nginx", false},
		// Localhost and IPv6.
		{"localhost:5000/**", "localhost:5000/app", true},
		{"localhost:5000/**", "localhost/app", false},
		{"localhost/**", "localhost:5000/app", false},
		{"[::1]:5000/**", "[0:0:0:0:0:0:0:1]:5000/app", true},
		{"[::1]:5000/**", "[::2]:5000/app", false},
		{"[::1]:5000/**", "[::1]/app", false},
		// A pinned tag is compared exactly; a reference with neither tag nor digest is ":latest".
		{"ubuntu:24.04", "ubuntu:24.04", true},
		{"ubuntu:24.04", "docker.io/library/ubuntu:24.04", true},
		{"ubuntu:24.04", "ubuntu:24.10", false},
		{"ubuntu:24.04", "ubuntu:24.04.1", false},
		{"ubuntu:24.04", "ubuntu", false},
		{"ubuntu:24.04", "ubuntu@" + d256, false},
		{"ubuntu:24.04", "ubuntu:24.04@" + d256, false}, // the digest runs; the tag is not checked against it
		{"ubuntu:24.04", "acme/ubuntu:24.04", false},
		{"registry.example.com/app:V1", "registry.example.com/app:v1", false},
		{"registry.example.com/app:V1", "REGISTRY.EXAMPLE.COM/app:V1", true},
		{"ubuntu:latest", "ubuntu", true},
		{"ubuntu:latest", "ubuntu:latest", true},
		{"ubuntu:latest", "ubuntu@" + d256, false},
		{"ghcr.io/acme/*:stable", "ghcr.io/acme/app:stable", true},
		{"ghcr.io/acme/*:stable", "ghcr.io/acme/app:1.0", false},
		{"ghcr.io/acme/*:stable", "ghcr.io/acme/app/sub:stable", false},
		{"registry.example.com/**:latest", "registry.example.com/a/b", true},
		{"registry.example.com/**:latest", "registry.example.com/a/b:1", false},
		// A pinned digest is what runs, whatever tag is written beside it.
		{"ubuntu@" + d256, "ubuntu@" + d256, true},
		{"ubuntu@" + d256, "ubuntu:24.04@" + d256, true},
		{"ubuntu@" + d256, "ubuntu:any@" + d256, true},
		{"ubuntu@" + d256, "ubuntu", false},
		{"ubuntu@" + d256, "ubuntu:24.04", false},
		{"ubuntu@" + d256, "ubuntu@sha256:" + strings.Repeat("f", 64), false},
		{"ubuntu@" + d256, "ubuntu@" + d512, false},
		{"ubuntu@" + d256, "acme/ubuntu@" + d256, false},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.pattern)
		if err != nil {
			t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
		}
		r, err := Parse(tt.ref)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.ref, err)
		}
		if got := p.Match(r); got != tt.want {
			t.Errorf("CompilePattern(%q).Match(%q) = %v, want %v", tt.pattern, tt.ref, got, tt.want)
		}
	}
}

// TestMentions: the deny-list reading differs from Match in one case only, a tag-pinned
// pattern and a reference with that tag beside a digest.
func TestMentions(t *testing.T) {
	tests := []struct {
		pattern, ref    string
		match, mentions bool
	}{
		{"ubuntu:24.04", "ubuntu:24.04@" + d256, false, true},
		{"ubuntu:24.04", "ubuntu:24.04", true, true},
		{"ubuntu:24.04", "ubuntu:24.10@" + d256, false, false},
		{"ubuntu:24.04", "ubuntu@" + d256, false, false},
		{"ubuntu:latest", "ubuntu:latest@" + d256, false, true},
		{"ubuntu@" + d256, "ubuntu:24.04@" + d256, true, true},
		{"ubuntu@" + d256, "ubuntu:24.04", false, false},
		{"ubuntu", "ubuntu:24.04@" + d256, true, true},
		{"registry.example.com/**", "evil.example.com/app:1@" + d256, false, false},
		{"ghcr.io/acme/*:stable", "ghcr.io/acme/app:stable@" + d256, false, true},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.pattern)
		if err != nil {
			t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
		}
		r, err := Parse(tt.ref)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.ref, err)
		}
		if got := p.Match(r); got != tt.match {
			t.Errorf("CompilePattern(%q).Match(%q) = %v, want %v", tt.pattern, tt.ref, got, tt.match)
		}
		if got := p.Mentions(r); got != tt.mentions {
			t.Errorf("CompilePattern(%q).Mentions(%q) = %v, want %v", tt.pattern, tt.ref, got, tt.mentions)
		}
	}
}

func TestPinned(t *testing.T) {
	for s, want := range map[string]bool{"nginx": false, "ghcr.io/acme/**": false, "nginx:1.27": true, "nginx@" + d256: true} {
		p, err := CompilePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		if p.Pinned() != want {
			t.Errorf("CompilePattern(%q).Pinned() = %v, want %v", s, p.Pinned(), want)
		}
	}
	if (Pattern{}).Pinned() {
		t.Error("the zero Pattern is pinned")
	}
}

func TestMatchZeroValues(t *testing.T) {
	var zero Pattern
	if zero.Match(Reference{Registry: "docker.io", Repository: "library/nginx"}) || zero.Match(Reference{}) {
		t.Error("the zero Pattern matched")
	}
	p, _ := CompilePattern("docker.io/**")
	if p.Match(Reference{}) || p.Match(Reference{Registry: "docker.io"}) {
		t.Error("a pattern matched a Reference without a repository")
	}
	q, _ := CompilePattern("ghcr.io/*/app")
	if q.Match(Reference{Registry: "ghcr.io", Repository: "/app"}) {
		t.Error(`"*" matched an empty segment`)
	}
}

func TestMatchAllocations(t *testing.T) {
	p, _ := CompilePattern("registry.example.com/team/*/**")
	r, _ := Parse("registry.example.com/team/app/sub:1")
	if n := testing.AllocsPerRun(100, func() { p.Match(r) }); n != 0 {
		t.Errorf("Match: %v allocations, want 0", n)
	}
	pinned, _ := CompilePattern("registry.example.com/team/*/sub:1")
	if n := testing.AllocsPerRun(100, func() { pinned.Match(r); pinned.Mentions(r) }); n != 0 {
		t.Errorf("Match and Mentions of a pinned pattern: %v allocations, want 0", n)
	}
	if !pinned.Match(r) {
		t.Errorf("%q does not match %v", pinned, r)
	}
}

// BenchmarkParseAndMatch measures the per-container hot path: parse the image, then
// check it against a small allowlist (the last pattern, or none, matches).
func BenchmarkParseAndMatch(b *testing.B) {
	var allow []Pattern
	for _, s := range []string{"docker.io/library/nginx", "ghcr.io/acme/*", "quay.io/team/**", "registry.example.com/**"} {
		p, err := CompilePattern(s)
		if err != nil {
			b.Fatal(err)
		}
		allow = append(allow, p)
	}
	cases := []struct{ name, ref string }{
		{"qualified", "registry.example.com/team/app:1.2.3"},
		{"tag+digest", "registry.example.com/team/app:1.2.3@" + d256},
		{"hub-short", "redis:7"},
		{"denied", "registry.example.com.evil.io/team/app:1.2.3"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := Parse(c.ref)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range allow {
					if p.Match(r) {
						break
					}
				}
			}
		})
	}
}
