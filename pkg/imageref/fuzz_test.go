package imageref

import (
	"errors"
	"strings"
	"testing"
)

// fuzzSeeds covers each branch of the grammar once, valid and not; the fuzzer mutates
// from here. They also run as ordinary tests, oracle included, on every go test.
var fuzzSeeds = []string{
	"nginx", "nginx:1.27", "library/nginx", "docker.io/nginx", "docker.io/library/nginx",
	"index.docker.io/library/nginx", "registry-1.docker.io/library/nginx", "acme/app",
	"registry.example.com/team/app:1.2.3@" + d256, "REGISTRY.EXAMPLE.COM/x",
	"registry.example.com:5000/x", "registry.example.com.evil.io/x", "localhost:5000/app:dev",
	"LOCALHOST/app", "localhost", "localhost:5000", "[::1]:5000/app", "[0:0::1]/app",
	"[::ffff:7f00:1]/app", "127.0.0.1/app", "ghcr.io/acme/app@" + d512, "app@" + d384,
	"a/b.c_d__e---f", "a//b", "/a", "a/", "UPPER/case", "docker.io/Acme/app", "DOCKER.IO/nginx",
	"r\u0435gistry.example.com/app", "https://registry.example.com/app", "nginx:", "nginx@",
	"nginx:.x", "nginx@sha256:abc", "nginx@md5:" + hex64, hex64, "registry:05000/app",
	"registry:65536/app", "*.example.com/**", "ghcr.io/acme/*", "docker.io/**", "a:b:c",
	"a@b@c", " nginx", "nginx\x00", strings.Repeat("a", 238), "r.io/" + strings.Repeat("a", 250),
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Input != s || e.Reason == "" || r != (Reference{}) {
				t.Fatalf("Parse(%q): malformed failure %+v, %#v", s, r, err)
			}
			if c := e.Reason[0]; c >= 'A' && c <= 'Z' {
				t.Fatalf("Parse(%q): reason %q is not lower-case", s, e.Reason)
			}
			if msg := err.Error(); !isASCII(msg) || len(msg) > 2048 {
				t.Fatalf("Parse(%q): error message is not short ASCII: %q", s, msg)
			}
			return
		}

		str := r.String()
		if !isASCII(str) {
			t.Fatalf("Parse(%q).String() = %q is not ASCII", s, str)
		}
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, str, err)
		}
		if again != r {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v", s, r, str, again)
		}
		if len(r.Name()) > maxNameLength {
			t.Fatalf("Parse(%q): name longer than %d: %q", s, maxNameLength, r.Name())
		}
		checkAgainstDocker(t, s, r)

		// Every parsed reference is allowed by its own name and by its registry's "/**",
		// and the name compiles as a pattern that prints back unchanged.
		for _, ps := range []string{r.Name(), r.Registry + "/**"} {
			p, err := CompilePattern(ps)
			if err != nil {
				t.Fatalf("Parse(%q): CompilePattern(%q): %v", s, ps, err)
			}
			if !p.Match(r) {
				t.Fatalf("Parse(%q) = %+v is not matched by %q", s, r, p)
			}
		}
		if p, _ := CompilePattern(r.Name()); p.String() != r.Name() {
			t.Fatalf("CompilePattern(%q).String() = %q", r.Name(), p)
		}

		// Pinned to its own digest or tag, the name matches it: a digest whatever the tag
		// beside it; a tag beside a digest only when read as a deny-list reads it.
		if r.Digest != "" {
			p, err := CompilePattern(r.Name() + "@" + r.Digest)
			if err != nil || !p.Match(r) || !p.Mentions(r) {
				t.Fatalf("Parse(%q): digest pattern %q: %v, match %v", s, p, err, p.Match(r))
			}
		}
		tag := r.Tag
		if tag == "" && r.Digest == "" {
			tag = "latest"
		}
		if tag != "" {
			p, err := CompilePattern(r.Name() + ":" + tag)
			if err != nil || p.Match(r) != (r.Digest == "") || !p.Mentions(r) {
				t.Fatalf("Parse(%q): tag pattern %q: %v, match %v, mentions %v", s, p, err, p.Match(r), p.Mentions(r))
			}
		}
	})
}

func FuzzCompilePattern(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, s := range []string{"ghcr.io/*/app", "ghcr.io/acme/**", "docker.io/*", "*", "**/x",
		"ghcr.io/acme-*", "ghcr.io/**/x", "registry.example.com", "ubuntu:24.04", "ubuntu:24.*",
		"ghcr.io/acme/*:stable", "registry.example.com/**:latest", "nginx:1@" + d256, "localhost:5000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CompilePattern(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Input != s || e.Reason == "" || p != (Pattern{}) {
				t.Fatalf("CompilePattern(%q): malformed failure %+v, %#v", s, p, err)
			}
			return
		}
		str := p.String()
		if !isASCII(str) {
			t.Fatalf("CompilePattern(%q).String() = %q is not ASCII", s, str)
		}
		again, err := CompilePattern(str)
		if err != nil || again != p {
			t.Fatalf("CompilePattern(%q).String() = %q does not round-trip: %v, %v", s, str, again, err)
		}
		if p.Match(Reference{}) || p.Mentions(Reference{}) {
			t.Fatalf("CompilePattern(%q) matches the zero Reference", s)
		}
		if strings.Contains(str, "*") {
			return
		}
		// A pattern without wildcards is a reference (a name, perhaps pinned), and
		// matches that reference.
		r, err := Parse(str)
		if err != nil || r.String() != str || !p.Match(r) || !p.Mentions(r) {
			t.Fatalf("literal pattern %q: Parse gives %+v, %v", str, r, err)
		}
		if p.Pinned() != (r.Tag != "" || r.Digest != "") {
			t.Fatalf("literal pattern %q: Pinned() = %v for %+v", str, p.Pinned(), r)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
