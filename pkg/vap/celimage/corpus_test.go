package celimage

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const (
	hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	d256  = "sha256:" + hex64
	d384  = "sha384:" + hex64 + "0123456789abcdef0123456789abcdef"
	d512  = "sha512:" + hex64 + hex64
	dOth  = "sha256:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// imagerefCorpus returns every string literal of pkg/imageref's tests (the parse and pattern
// tables, the oracle's refusals, the fuzz seeds) and its stored fuzz inputs, read from the
// source so that a case added there is tested here too. Literals that are not references
// (messages, reasons) are harmless inputs: both sides must refuse them alike.
func imagerefCorpus(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "imageref")
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no imageref test files: %v", err)
	}
	set := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					set[s] = true
				}
			}
			return true
		})
	}
	seeds, _ := filepath.Glob(filepath.Join(dir, "testdata", "fuzz", "*", "*"))
	for _, f := range seeds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if q, ok := strings.CutPrefix(line, "string("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					set[s] = true
				}
			}
		}
	}
	// The literals that are only a prefix in the tables ("app@" + d256) get their digests.
	for s := range set {
		if strings.HasSuffix(s, "@") || strings.HasSuffix(s, ":") {
			set[s+d256[strings.IndexByte(d256, ':')+1:]] = true
		}
		if strings.HasSuffix(s, "@") {
			set[s+d256], set[s+d512], set[s+d384] = true, true, true
		}
	}
	if len(set) < 100 {
		t.Fatalf("imageref corpus has only %d strings; has the source moved?", len(set))
	}
	return sortedKeys(set)
}

// generatedCorpus crosses registry spellings, repository paths and tag/digest tails, aimed at
// the tricky cases: Docker Hub's implicit registry and library/, index.docker.io, upper case,
// ports, look-alike hosts, localhost, and names at the 255-character limit in every spelling.
func generatedCorpus() []string {
	hosts := []string{"", "docker.io/", "index.docker.io/", "DOCKER.IO/", "Docker.Io/", "INDEX.docker.io/",
		"registry-1.docker.io/", "docker.io:443/", "index.docker.io:5000/", "ghcr.io/", "GHCR.IO/", "ghcr.io:443/",
		"registry.example.com/", "registry.example.com:5000/", "REGISTRY.Example.COM:5000/", "registry.example.com:05000/",
		"registry.example.com:65535/", "registry.example.com:65536/", "registry.example.com:0/", "registry.example.com.evil.io/",
		"localhost/", "LOCALHOST/", "Localhost:5000/", "localhost:5000/", "[::1]:5000/", "[::1]/", "127.0.0.1:5000/",
		"a_b.c/", "-a.b/", "a-.b/", "a..b/", "host:/", "UPPER/", "docker.io/library/", "index.docker.io/library/"}
	paths := []string{"nginx", "library/nginx", "ubuntu", "library/ubuntu", "acme/app", "acme/app/sub", "acme", "acmeevil/app",
		"library", "library/library", "a.b", "a.b/c", "localhost", "localhost/x", "Acme/app", "nginX", hex64, hex64 + "/x",
		"a__b", "a___b", "a--b", "a-", "_a", "a//b", "a/", "x/" + hex64}
	tails := []string{"", ":latest", ":24.04", ":LATEST", ":1", "@" + d256, "@" + dOth, ":24.04@" + d256, ":latest@" + d256,
		"@" + d512, "@sha256:" + strings.ToUpper(hex64), "@md5:" + hex64, ":" + strings.Repeat("t", 128), ":" + strings.Repeat("t", 129),
		":.x", ":", "@", ":a:b"}
	set := map[string]bool{}
	for _, h := range hosts {
		for _, p := range paths {
			for _, tl := range tails {
				set[h+p+tl] = true
			}
		}
		// Names around the 255-character limit, which each spelling reaches at another length.
		for _, n := range []int{226, 227, 235, 236, 237, 238, 243, 244, 245, 246, 247, 248, 251, 252, 253, 254, 255, 256, 260, 261} {
			for _, p := range []string{strings.Repeat("a", n), "acme/" + strings.Repeat("b", n-5)} {
				for _, tl := range []string{"", ":" + strings.Repeat("t", 128) + "@" + d512} {
					set[h+p+tl] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
