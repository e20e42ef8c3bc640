package celimage

import (
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/imageref"
)

// TestPatternTrickyCases pins the normalization cases the issue names, each with the verdict
// imageref gives, so that a failure names the case rather than a corpus count.
func TestPatternTrickyCases(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		image   string
		allowed bool
	}{
		{"docker.io/*", "nginx", true},                            // implicit docker.io and library/
		{"docker.io/*", "library/nginx:1.27", true},               //
		{"docker.io/*", "index.docker.io/nginx", true},            // the legacy alias, library/ added
		{"docker.io/*", "docker.io/acme/app", false},              // "*" is library/* only
		{"docker.io/*", "DOCKER.IO/nginx", false},                 // upper-case Hub host: invalid
		{"docker.io/*", "registry.example.com:5000/x", false},     // a host with a port is not a repository
		{"docker.io/**", "acme/app", true},                        //
		{"docker.io/**", "registry-1.docker.io/library/x", false}, // its own registry
		{"docker.io/**", "docker.io:443/library/x", false},        // a port makes another registry
		{"docker.io/**", "localhost/x", false},                    // localhost is a registry
		{"docker.io/**", "a.b/c", false},                          // so is anything with a dot
		{"docker.io/**", "a.b", true},                             // unless no '/' follows
		{"nginx", "docker.io/library/nginx@" + d256, true},
		{"nginx", "nginx-evil", false},
		{"ghcr.io/acme/*", "GHCR.IO/acme/app", true}, // hosts are case-insensitive
		{"ghcr.io/acme/*", "ghcr.io/acme/app/sub", false},
		{"ghcr.io/acme/*", "ghcr.io/acmeevil/app", false},
		{"ghcr.io/acme/*", "ghcr.io/Acme/app", false}, // upper-case path: invalid
		{"registry.example.com:5000/**", "Registry.Example.Com:5000/team/app", true},
		{"registry.example.com:5000/**", "registry.example.com/team/app", false},
		{"registry.example.com:5000/**", "registry.example.com:05000/team/app", false},
		{"registry.example.com:5000/**", "registry.example.com:5000.evil.io/app", false},
		{"registry.example.com:5000/**", "[::1]:5000/app", false},
		{"ubuntu:24.04", "ubuntu:24.04", true},
		{"ubuntu:24.04", "ubuntu", false},
		{"ubuntu:24.04", "ubuntu:24.04@" + d256, false}, // Match: a digest beside the tag is what runs
		{"library/nginx:latest", "nginx", true},         // no tag means latest
		{"library/nginx:latest", "nginx@" + d256, false},
		{"ubuntu@" + d256, "index.docker.io/library/ubuntu:any@" + d256, true},
		{"ubuntu@" + d256, "ubuntu@" + dOth, false},
	} {
		p, err := imageref.CompilePattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := imageref.Parse(tc.image)
		if want := err == nil && p.Match(ref); want != tc.allowed {
			t.Fatalf("the table disagrees with imageref on %q vs %q: imageref says %v", tc.pattern, tc.image, want)
		}
		prog := compileImageCheck(t, func(img string) string { return AllowedImageCEL(img, []imageref.Pattern{p}) })
		if got, _ := prog.eval(t, tc.image); got != tc.allowed {
			t.Errorf("pattern %q, image %q: CEL allows = %v, want %v\nregexes: %q", tc.pattern, tc.image, got, tc.allowed,
				strings.Join(func() []string { e, i := PatternRegexes(p, false); return []string{e, i} }(), " | "))
		}
	}
}

// TestImageCELCost measures the cost the API server charges and estimates for the largest
// expressions: an allowlist of maxDeniedRegistries patterns (the CRD's limit for a list) and
// the longest valid reference, and a megabyte-long image, which size() stops before any regex.
func TestImageCELCost(t *testing.T) {
	const maxPatterns = 256 // the CRD's MaxItems for spec.images.{allowed,denied}Registries
	pats := make([]imageref.Pattern, maxPatterns)
	for i := range pats {
		// Every fourth pattern is Docker Hub, which costs a second regex.
		s := "registry-" + strings.Repeat("x", 40) + ".example.com:5000/team-" + strings.Repeat("y", 40) + "/*"
		if i%4 == 0 {
			s = "docker.io/team-" + strings.Repeat("y", 40) + "/**"
		}
		pats[i], _ = imageref.CompilePattern(s)
	}
	longest := "index.docker.io/acme/" + strings.Repeat("a", 255-len("docker.io/acme/")) + ":" + strings.Repeat("t", 128) + "@" + d512
	if len(longest) != MaxValidReferenceLength {
		t.Fatalf("longest reference has %d characters, MaxValidReferenceLength is %d", len(longest), MaxValidReferenceLength)
	}
	if _, err := imageref.Parse(longest); err != nil {
		t.Fatalf("longest reference: %v", err)
	}
	if _, err := imageref.Parse(strings.Replace(longest, "/a", "/aa", 1)); err == nil {
		t.Fatal("a name one character longer parses; MaxValidReferenceLength is too small")
	}
	for _, c := range []struct {
		name  string
		check func(string) string
	}{
		{"valid", ValidImageCEL},
		{"allowed[256]", func(img string) string { return AllowedImageCEL(img, pats) }},
		{"notDenied[256]", func(img string) string { return NotDeniedImageCEL(img, pats) }},
		{"disallowLatestTag", NotLatestImageCEL},
		{"requireDigest", DigestImageCEL},
	} {
		prog := compileImageCheck(t, c.check)
		_, cost := prog.eval(t, longest)
		_, huge := prog.eval(t, strings.Repeat("a", 1<<20))
		est := estimateCost(t, c.check)
		t.Logf("%s: %d characters of CEL; runtime cost %d for the longest valid reference, %d for a 1 MiB string; estimate %d..%d; per-call limit %d",
			c.name, len(prog.expr), cost, huge, est.Min, est.Max, perCallLimit)
		if cost > perCallLimit || huge > perCallLimit || est.Max > perCallLimit {
			t.Errorf("%s: cost over the per-call limit %d", c.name, perCallLimit)
		}
	}
}
