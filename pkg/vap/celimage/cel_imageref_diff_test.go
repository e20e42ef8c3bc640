package celimage

import (
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/imageref"
)

// diffPatterns are the patterns of the differential test: each alone, in both readings, and
// all together as one list.
var diffPatterns = []string{
	"docker.io/*", "docker.io/**", "nginx", "ghcr.io/acme/*", "registry.example.com:5000/**",
	"ubuntu:24.04", "ubuntu@" + d256, "docker.io/*/*", "library/nginx:latest", "localhost/**",
	"ghcr.io/acme/**", "docker.io/acme/**", "registry-1.docker.io/**", "docker.io/library/**",
	"acme/app:latest", "docker.io/localhost/x", "registry.example.com/**", "docker.io/a.b:24.04",
}

// imageCheck is one compiled check and the verdict imageref gives for the same image.
type imageCheck struct {
	name string
	cel  func(img string) string
	want func(ref imageref.Reference) bool // called only for references Parse accepts
}

func imageChecks(t testing.TB) []imageCheck {
	t.Helper()
	all := make([]imageref.Pattern, len(diffPatterns))
	for i, s := range diffPatterns {
		p, err := imageref.CompilePattern(s)
		if err != nil {
			t.Fatalf("pattern %q: %v", s, err)
		}
		all[i] = p
	}
	checks := []imageCheck{
		{"valid", ValidImageCEL, func(imageref.Reference) bool { return true }},
		{"disallowLatestTag", NotLatestImageCEL, func(r imageref.Reference) bool { return r.Digest != "" || !r.IsLatest() }},
		{"requireDigest", DigestImageCEL, func(r imageref.Reference) bool { return r.Digest != "" }},
		{"allowed[all]", func(img string) string { return AllowedImageCEL(img, all) }, func(r imageref.Reference) bool {
			for _, p := range all {
				if p.Match(r) {
					return true
				}
			}
			return false
		}},
		{"notDenied[all]", func(img string) string { return NotDeniedImageCEL(img, all) }, func(r imageref.Reference) bool {
			for _, p := range all {
				if p.Mentions(r) {
					return false
				}
			}
			return true
		}},
	}
	for i, s := range diffPatterns {
		p := all[i]
		checks = append(checks,
			imageCheck{"allowed[" + s + "]", func(img string) string { return AllowedImageCEL(img, []imageref.Pattern{p}) }, p.Match},
			imageCheck{"notDenied[" + s + "]", func(img string) string { return NotDeniedImageCEL(img, []imageref.Pattern{p}) },
				func(r imageref.Reference) bool { return !p.Mentions(r) }})
	}
	return checks
}

// conservativeOnly reports the references the CEL refuses by design although imageref accepts
// them: IPv6 registry hosts (see doc.go).
func conservativeOnly(s string) bool {
	host, _, ok := strings.Cut(s, "/")
	return ok && strings.HasPrefix(host, "[")
}

type tally struct{ cases, exact, conservative, under, over int }

// compare evaluates every check on image and records the outcome. An under-denial (CEL allows
// what imageref denies) always fails; so does any disagreement outside the documented
// conservative cases.
func compare(t testing.TB, progs []*imageProgram, checks []imageCheck, image string, tl *tally) {
	t.Helper()
	ref, err := imageref.Parse(image)
	for i, c := range checks {
		want := err == nil && c.want(ref)
		got, _ := progs[i].eval(t, image)
		tl.cases++
		switch {
		case got == want:
			tl.exact++
		case got:
			tl.under++
			t.Errorf("%s: CEL allows %q, which imageref denies (parse error: %v)", c.name, image, err)
		case conservativeOnly(image):
			tl.conservative++
		default:
			tl.over++
			t.Errorf("%s: CEL denies %q, which imageref allows as %+v", c.name, image, ref)
		}
	}
}

func compileChecks(t testing.TB, checks []imageCheck) []*imageProgram {
	progs := make([]*imageProgram, len(checks))
	for i, c := range checks {
		progs[i] = compileImageCheck(t, c.cel)
	}
	return progs
}

// TestDifferential runs imageref's own test corpus and a generated set of tricky spellings
// through imageref and through the generated CEL in the API server's CEL environment. The CEL
// must agree exactly, except that it refuses IPv6 hosts, and must never allow what imageref
// denies.
func TestDifferential(t *testing.T) {
	checks := imageChecks(t)
	progs := compileChecks(t, checks)
	for _, corpus := range []struct {
		name   string
		images []string
	}{{"imageref corpus", imagerefCorpus(t)}, {"generated", generatedCorpus()}} {
		var tl tally
		valid := 0
		for _, s := range corpus.images {
			if _, err := imageref.Parse(s); err == nil {
				valid++
			}
			compare(t, progs, checks, s, &tl)
		}
		t.Logf("%s: %d references (%d valid) x %d checks = %d verdicts: %d agree (%.3f%% of all, %.3f%% outside IPv6 hosts), "+
			"%d conservative (IPv6 hosts), %d under-denials, %d other disagreements", corpus.name, len(corpus.images), valid, len(checks),
			tl.cases, tl.exact, 100*float64(tl.exact)/float64(tl.cases), 100*float64(tl.exact)/float64(tl.cases-tl.conservative),
			tl.conservative, tl.under, tl.over)
		if valid < len(corpus.images)/10 {
			t.Errorf("%s: only %d of %d references are valid; the corpus tests little but refusal", corpus.name, valid, len(corpus.images))
		}
	}
}

// FuzzImageCEL compares imageref and the CEL on arbitrary strings: go test -fuzz FuzzImageCEL.
func FuzzImageCEL(f *testing.F) {
	for _, s := range imagerefCorpus(f) {
		f.Add(s)
	}
	checks := imageChecks(f)
	progs := compileChecks(f, checks)
	f.Fuzz(func(t *testing.T, s string) {
		var tl tally
		compare(t, progs, checks, s, &tl)
	})
}
