package imageref

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	hex64  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	d256   = "sha256:" + hex64
	d384   = "sha384:" + hex64 + "0123456789abcdef0123456789abcdef"
	d512   = "sha512:" + hex64 + hex64
	hub    = DockerHub
	nginx  = "library/nginx"
	cyrE   = "\u0435" // Cyrillic small letter ie, looks like "e"
	zeroWS = "\u200b" // zero-width space
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
	}{
		// Docker Hub spellings.
		{"nginx", Reference{Registry: hub, Repository: nginx}},
		{"library/nginx", Reference{Registry: hub, Repository: nginx}},
		{"docker.io/nginx", Reference{Registry: hub, Repository: nginx}},
		{"docker.io/library/nginx", Reference{Registry: hub, Repository: nginx}},
		{"index.docker.io/library/nginx", Reference{Registry: hub, Repository: nginx}},
		{"index.docker.io/nginx", Reference{Registry: hub, Repository: nginx}},
		{"acme/app", Reference{Registry: hub, Repository: "acme/app"}},
		{"docker.io/acme/app", Reference{Registry: hub, Repository: "acme/app"}},
		{"acme/team/app", Reference{Registry: hub, Repository: "acme/team/app"}},
		{"nginx:1.27", Reference{Registry: hub, Repository: nginx, Tag: "1.27"}},
		{"nginx:latest", Reference{Registry: hub, Repository: nginx, Tag: "latest"}},
		{"nginx@" + d256, Reference{Registry: hub, Repository: nginx, Digest: d256}},
		{"nginx:1.27@" + d256, Reference{Registry: hub, Repository: nginx, Tag: "1.27", Digest: d256}},
		// Not Hub: only docker.io and index.docker.io are.
		{"registry-1.docker.io/library/nginx", Reference{Registry: "registry-1.docker.io", Repository: nginx}},
		{"docker.io:443/nginx", Reference{Registry: "docker.io:443", Repository: "nginx"}},
		{"hub.docker.com/nginx", Reference{Registry: "hub.docker.com", Repository: "nginx"}},
		// Bare names that look like hosts are Hub repositories, as docker reads them.
		{"registry.example.com", Reference{Registry: hub, Repository: "library/registry.example.com"}},
		{"localhost", Reference{Registry: hub, Repository: "library/localhost"}},
		{"localhost:5000", Reference{Registry: hub, Repository: "library/localhost", Tag: "5000"}},
		// Other registries.
		{"registry.example.com/app", Reference{Registry: "registry.example.com", Repository: "app"}},
		{"registry.example.com/team/app:1.2.3", Reference{Registry: "registry.example.com", Repository: "team/app", Tag: "1.2.3"}},
		{"REGISTRY.EXAMPLE.COM/x", Reference{Registry: "registry.example.com", Repository: "x"}},
		{"Registry.Example.Com:5000/x:V1", Reference{Registry: "registry.example.com:5000", Repository: "x", Tag: "V1"}},
		{"registry.example.com:5000/x", Reference{Registry: "registry.example.com:5000", Repository: "x"}},
		{"registry.example.com:5000/x:5000", Reference{Registry: "registry.example.com:5000", Repository: "x", Tag: "5000"}},
		{"registry:5000/x", Reference{Registry: "registry:5000", Repository: "x"}},
		{"ghcr.io/acme/app@" + d256, Reference{Registry: "ghcr.io", Repository: "acme/app", Digest: d256}},
		{"ghcr.io/acme/app:v1@" + d512, Reference{Registry: "ghcr.io", Repository: "acme/app", Tag: "v1", Digest: d512}},
		{"ghcr.io/acme/app@" + d384, Reference{Registry: "ghcr.io", Repository: "acme/app", Digest: d384}},
		{"localhost/app", Reference{Registry: "localhost", Repository: "app"}},
		{"LOCALHOST/app", Reference{Registry: "localhost", Repository: "app"}},
		{"localhost:5000/app:dev", Reference{Registry: "localhost:5000", Repository: "app", Tag: "dev"}},
		{"127.0.0.1:5000/app", Reference{Registry: "127.0.0.1:5000", Repository: "app"}},
		{"[::1]/app", Reference{Registry: "[::1]", Repository: "app"}},
		{"[::1]:5000/app:1", Reference{Registry: "[::1]:5000", Repository: "app", Tag: "1"}},
		{"[0:0:0:0:0:0:0:1]:5000/app", Reference{Registry: "[::1]:5000", Repository: "app"}},
		{"[2001:DB8::A]:65535/app", Reference{Registry: "[2001:db8::a]:65535", Repository: "app"}},
		{"my-registry.example.com/a/b/c/d", Reference{Registry: "my-registry.example.com", Repository: "a/b/c/d"}},
		{"a.b/x", Reference{Registry: "a.b", Repository: "x"}},
		// Path component separators.
		{"a/b.c_d__e---f", Reference{Registry: hub, Repository: "a/b.c_d__e---f"}},
		{"0/1", Reference{Registry: hub, Repository: "0/1"}},
		// Tags.
		{"app:_", Reference{Registry: hub, Repository: "library/app", Tag: "_"}},
		{"app:A-b.C_1", Reference{Registry: hub, Repository: "library/app", Tag: "A-b.C_1"}},
		{"app:" + strings.Repeat("t", 128), Reference{Registry: hub, Repository: "library/app", Tag: strings.Repeat("t", 128)}},
		// Name of exactly 255 characters after normalization.
		{"r.io/" + strings.Repeat("a", 250), Reference{Registry: "r.io", Repository: strings.Repeat("a", 250)}},
		{strings.Repeat("a", 237), Reference{Registry: hub, Repository: "library/" + strings.Repeat("a", 237)}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): unexpected error: %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("Parse(%q).String() = %q does not round-trip: %+v, %v", tt.in, got.String(), again, err)
		}
		t.Run("docker", func(t *testing.T) { checkAgainstDocker(t, tt.in, got) })
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		in     string
		reason string // a substring of the error's Reason
	}{
		{"", "reference is empty"},
		{" nginx", "whitespace at offset 0"},
		{"nginx ", "whitespace"},
		{"ngi\tnx", "whitespace"},
		{"nginx\n", "whitespace"},
		{"ngi\x00nx", "control character 0x00"},
		{"ngi\x7fnx", "control character 0x7f"},
		{"r" + cyrE + "gistry.example.com/app", "non-ASCII character U+0435 at offset 1"},
		{"registry.example.com/" + cyrE, "non-ASCII"},
		{"nginx:" + cyrE, "non-ASCII"},
		{"nginx" + zeroWS, "non-ASCII character U+200B"},
		{"nginx\xff", "not ASCII (0xff)"},
		{strings.Repeat("a", 1025), "longer than 1024"},
		{"https://registry.example.com/app", "URL scheme"},
		{"docker://nginx", "URL scheme"},
		{"UPPER/case", "repository must be lower-case"},
		{"Nginx", "repository must be lower-case"},
		{"docker.io/Acme/app", "repository must be lower-case"},
		{"registry.example.com/team/App:1", "repository must be lower-case"},
		{"a//b", "empty path component"},
		{"/nginx", "empty path component"},
		{"nginx/", "empty path component"},
		{"registry.example.com/", "empty path component"},
		{"registry.example.com//x", "empty path component"},
		{"-nginx", "must start and end with a letter or digit"},
		{"nginx-", "must start and end with a letter or digit"},
		{"a/.b", "must start and end with a letter or digit"},
		{"a/b..c", "must start and end with a letter or digit"},
		{"a/b___c", "must start and end with a letter or digit"},
		{"a/b_-c", "must start and end with a letter or digit"},
		{"a/b+c", "invalid character '+'"},
		{"a/b*", "invalid character '*'"},
		{"a:b:c", "invalid character ':'"},
		{"[::1]:5000", "invalid character '['"},
		{":tag", "repository name is missing"},
		{"@" + d256, "repository name is missing"},
		{"nginx:", "tag is empty"},
		{"nginx:.x", "tag must start with"},
		{"nginx:-x", "tag must start with"},
		{"nginx:a+b", "tag contains invalid character '+'"},
		{"nginx:" + strings.Repeat("t", 129), "tag is longer than 128"},
		{"nginx@", "digest is empty"},
		{"nginx@sha256", "algorithm:hex"},
		{"nginx@sha256:" + strings.ToUpper(hex64), "digest hex must be lower-case"},
		{"nginx@sha256:" + hex64[:63], "sha256 digest must have 64 hex digits, got 63"},
		{"nginx@sha256:" + hex64 + "0", "must have 64 hex digits, got 65"},
		{"nginx@sha256:" + hex64[:63] + "g", "digest contains invalid character 'g'"},
		{"nginx@sha512:" + hex64, "sha512 digest must have 128 hex digits"},
		{"nginx@md5:0123456789abcdef0123456789abcdef", "not supported"},
		{"nginx@SHA256:" + hex64, "not supported"},
		{"nginx@1sha:" + hex64, "malformed"},
		{"nginx@sha256+:" + hex64, "malformed"},
		{"nginx@:" + hex64, "malformed"},
		{"nginx@" + d256 + "@" + d256, "digest contains invalid character '@'"},
		{"nginx@" + d256 + ":x", "digest contains invalid character ':'"},
		{hex64, "image id"},
		{"registry.example.com:/x", "registry port is empty"},
		{"registry.example.com:abc/x", "is not a number"},
		{"registry.example.com:50:00/x", "is not a number"},
		{"registry.example.com:65536/x", "out of range"},
		{"registry.example.com:99999999999999999999/x", "out of range"},
		{"registry.example.com:0/x", "out of range"},
		{"registry.example.com:05000/x", "leading zeros"},
		{":5000/x", "registry host is empty"},
		{".example.com/x", "empty label"},
		{"registry.example.com./x", "empty label"},
		{"registry..example.com/x", "empty label"},
		{"-registry.example.com/x", "must not start with '-'"},
		{"registry-.example.com/x", "must not end with '-'"},
		{"registry.example-/x", "must not end with '-'"},
		{"my_registry.example.com/x", "invalid character '_'"},
		{"*.example.com/x", "invalid character '*'"},
		{"user@registry.example.com/x", "algorithm:hex"},
		{"DOCKER.IO/nginx", "docker hub host must be written in lower case"},
		{"Index.Docker.IO/acme/app", "docker hub host must be written in lower case"},
		{"[::1/x", "missing ']'"},
		{"[::1]x/app", "followed by ':port'"},
		{"[::1]:0/app", "out of range"},
		{"[fe80::1%25eth0]/app", "invalid character '%'"},
		{"[::ffff:7f00:1]/app", "ipv4-mapped"},
		{"[::ffff:127.0.0.1]/app", "invalid character '.'"},
		{"[1:2:3]/app", "not a valid ipv6 address"},
		{"[]/app", "invalid character '['"},
		{"[]:5000/app", "not a valid ipv6 address"},
		{"r.io/" + strings.Repeat("a", 251), "the limit is 255"},
		{strings.Repeat("a", 238), "the limit is 255"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error containing %q", tt.in, got, tt.reason)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %T is not *Error", tt.in, err)
			continue
		}
		if e.Kind != "reference" || e.Input != tt.in || !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("Parse(%q): got %+v, want reason containing %q", tt.in, e, tt.reason)
		}
		if got != (Reference{}) {
			t.Errorf("Parse(%q) returned %+v with its error, want the zero Reference", tt.in, got)
		}
	}
}

func TestHubSpellingsEqual(t *testing.T) {
	spellings := []string{"nginx", "library/nginx", "docker.io/nginx", "docker.io/library/nginx",
		"index.docker.io/library/nginx", "index.docker.io/nginx"}
	want := Reference{Registry: "docker.io", Repository: "library/nginx"}
	for _, s := range spellings {
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", s, got, want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"UPPER/case", `invalid image reference "UPPER/case": repository must be lower-case`},
		{"", `invalid image reference "": reference is empty`},
		{"r" + cyrE + "gistry.example.com/app",
			`invalid image reference "r\u0435gistry.example.com/app": contains non-ASCII character U+0435 at offset 1; only ASCII is allowed`},
		{"a\x1b[31m", `invalid image reference "a\x1b[31m": contains control character 0x1b at offset 1`},
		{strings.Repeat("a", 1100), `invalid image reference "` + strings.Repeat("a", 256) + `"...: reference is longer than 1024 characters`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Fatalf("Parse(%q): no error", tt.in)
		}
		if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
			t.Errorf("Parse(%q) error mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestReferenceMethods(t *testing.T) {
	type out struct {
		Name, String, WithDigest string
		IsLatest                 bool
	}
	const pin = "sha256:" + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	tests := []struct {
		in   string
		want out
	}{
		{"nginx", out{"docker.io/library/nginx", "docker.io/library/nginx", "docker.io/library/nginx@" + pin, true}},
		{"nginx:latest", out{"docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx:latest@" + pin, true}},
		{"nginx:latest@" + d256, out{"docker.io/library/nginx", "docker.io/library/nginx:latest@" + d256, "docker.io/library/nginx:latest@" + pin, true}},
		{"nginx:1.27", out{"docker.io/library/nginx", "docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27@" + pin, false}},
		{"nginx:Latest", out{"docker.io/library/nginx", "docker.io/library/nginx:Latest", "docker.io/library/nginx:Latest@" + pin, false}},
		{"nginx@" + d256, out{"docker.io/library/nginx", "docker.io/library/nginx@" + d256, "docker.io/library/nginx@" + pin, false}},
		{"REGISTRY.example.com:5000/team/app:1.2@" + d256, out{"registry.example.com:5000/team/app",
			"registry.example.com:5000/team/app:1.2@" + d256, "registry.example.com:5000/team/app:1.2@" + pin, false}},
		{"[::1]:5000/app", out{"[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app@" + pin, true}},
	}
	for _, tt := range tests {
		r, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		got := out{r.Name(), r.String(), r.WithDigest(pin), r.IsLatest()}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	var zero Reference
	if zero.Name() != "" || zero.String() != "" {
		t.Errorf("zero Reference: Name %q, String %q, want empty", zero.Name(), zero.String())
	}
}

func TestValidateDigest(t *testing.T) {
	for _, d := range []string{d256, d384, d512} {
		if err := ValidateDigest(d); err != nil {
			t.Errorf("ValidateDigest(%q): %v", d, err)
		}
	}
	err := ValidateDigest("sha256:abc")
	want := `invalid image digest "sha256:abc": sha256 digest must have 64 hex digits, got 3`
	if err == nil || err.Error() != want {
		t.Errorf("ValidateDigest: got %v, want %s", err, want)
	}
}

// TestParseAllocations guards the hot path: a qualified lower-case reference must not
// allocate, a Hub short name allocates only its "library/" repository.
func TestParseAllocations(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"registry.example.com/team/app:1.2.3@" + d256, 0},
		{"docker.io/library/nginx:1.27", 0},
		{"nginx:1.27", 1},
	}
	for _, tt := range tests {
		got := testing.AllocsPerRun(100, func() {
			if _, err := Parse(tt.in); err != nil {
				t.Fatal(err)
			}
		})
		if got > tt.want {
			t.Errorf("Parse(%q): %v allocations, want at most %v", tt.in, got, tt.want)
		}
	}
}
