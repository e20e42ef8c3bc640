package celimage

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sealgate/sealgate/pkg/imageref"
)

// This file turns the image rules into CEL that a ValidatingAdmissionPolicy can evaluate with
// nothing but the API server's own libraries (standard CEL, the Kubernetes regex library's
// matches/find, the strings extension). See doc.go for the design and for where it is exact.
//
// Every function takes img, the CEL expression of one image as written (for example "c.image"
// inside object.spec.containers.all(c, ...)), and returns a CEL expression that is true when the
// image is allowed. img is repeated, so it must be a cheap, side-effect-free selection.

// MaxValidReferenceLength is the longest reference imageref.Parse can accept: a 261-character
// name ("index.docker.io/" spelling of a 255-character normalized name), ":" and a 128-character
// tag, "@" and a sha512 digest. The CEL tests it first, so no regex ever runs over a longer
// string and the cost of an expression is bounded whatever the object holds.
const MaxValidReferenceLength = 261 + 1 + 128 + 1 + 7 + 128

// Regex pieces of the reference grammar imageref implements (pkg/imageref/grammar.go).
const (
	reComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	// reNoDotComponent is a component that cannot be read as a registry host: without '.',
	// a first component followed by '/' belongs to the Docker Hub path.
	reNoDotComponent = `[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*`
	reLabel          = `[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?`
	rePort           = `(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])`
	// reHost is docker's rule for a first component that names a registry: it has a '.', or a
	// port, or is localhost (any case). IPv6 hosts are left out on purpose (see doc.go).
	reHost   = `(?:` + reLabel + `(?:\.` + reLabel + `)+(?::` + rePort + `)?|` + reLabel + `:` + rePort + `|(?i:localhost))`
	reTag    = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
	reDigest = `(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})`
	rePath   = reComponent + `(?:/` + reComponent + `)*`

	// reValid is the grammar: a host and a path, or a Docker Hub path whose first component
	// cannot be a host, then an optional tag and digest.
	reValid = `^(?:` + reHost + `/` + rePath + `|` + reComponent + `|` + reNoDotComponent + `(?:/` + reComponent + `)+)` +
		`(?::` + reTag + `)?(?:@` + reDigest + `)?$`
	// reName finds the name (registry and path, no tag or digest) of a valid reference.
	reName = `^(?:[^/@]*/)*[^/:@]*`
)

// celString quotes a Go string as a CEL string literal. Regexes hold backslashes, so a raw
// string literal keeps them readable; none of ours contains a single quote.
func celString(s string) string {
	if strings.ContainsRune(s, '\'') {
		panic("celimage: regex with a quote: " + s)
	}
	return "r'" + s + "'"
}

func matches(img, re string) string { return img + ".matches(" + celString(re) + ")" }

// ValidImageCEL returns a CEL expression that is true exactly when imageref.Parse accepts the
// image, except that IPv6 registry hosts are refused (conservative). It encodes the grammar in
// one regex plus the three checks a regular grammar cannot express on its own: Docker Hub's
// host must be lower case, a bare 64-hex name is an image ID, and the normalized name is at
// most 255 characters (Docker Hub spellings grow or shrink by a known amount).
func ValidImageCEL(img string) string {
	name := img + ".find(" + celString(reName) + ")"
	limit := fmt.Sprintf("(%s ? 237 : %s ? 247 : %s ? 253 : %s ? 261 : (%s && !%s.lowerAscii().startsWith('localhost/')) ? 245 : 255)",
		matches(img, `^[^/]*$`),                   // "nginx" gets "docker.io/library/" (18)
		matches(img, `^docker\.io/[^/]*$`),        // "docker.io/nginx" gets "library/" (8)
		matches(img, `^index\.docker\.io/[^/]*$`), // loses "index." (6), gets "library/" (8)
		img+".startsWith('index.docker.io/')",     // loses "index." (6)
		matches(img, `^[^/.:]*/`), img)            // "acme/app" gets "docker.io/" (10)
	return "(size(" + img + ") <= " + fmt.Sprint(MaxValidReferenceLength) +
		" && " + matches(img, reValid) +
		" && (!" + matches(img, `^(?i:(?:index\.)?docker\.io)/`) + " || " + matches(img, `^(?:index\.)?docker\.io/`) + ")" +
		" && !" + matches(img, `^[0-9a-f]{64}(?:[:@]|$)`) +
		" && size(" + name + ") <= " + limit + ")"
}

// AllowedImageCEL returns a CEL expression that is true when the image is valid and some pattern
// matches it as imageref.Pattern.Match does (spec.images.allowedRegistries). An empty list
// allows nothing.
func AllowedImageCEL(img string, patterns []imageref.Pattern) string {
	return ValidImageCEL(img) + " && " + anyPatternCEL(img, patterns, false)
}

// NotDeniedImageCEL returns a CEL expression that is true when the image is valid and no pattern
// mentions it as imageref.Pattern.Mentions does (spec.images.deniedRegistries).
func NotDeniedImageCEL(img string, patterns []imageref.Pattern) string {
	return ValidImageCEL(img) + " && !" + anyPatternCEL(img, patterns, true)
}

// NotLatestImageCEL returns a CEL expression that is true when the image is valid and pinned by
// digest or tagged other than "latest" (spec.images.disallowLatestTag). In a valid reference a
// '@' starts the digest, and a trailing ":word" without a digest is the tag (a port is always
// followed by '/').
func NotLatestImageCEL(img string) string {
	return ValidImageCEL(img) + " && (" + img + ".contains('@') || (" +
		matches(img, `:[A-Za-z0-9_.-]+$`) + " && !" + img + ".endsWith(':latest')))"
}

// DigestImageCEL returns a CEL expression that is true when the image is valid and pinned by
// digest (spec.images.requireDigest).
func DigestImageCEL(img string) string {
	return ValidImageCEL(img) + " && " + img + ".contains('@')"
}

func anyPatternCEL(img string, patterns []imageref.Pattern, mentions bool) string {
	var terms []string
	for _, p := range patterns {
		terms = append(terms, PatternCEL(img, p, mentions))
	}
	if len(terms) == 0 {
		return "false"
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// PatternCEL returns a CEL expression that, for an image ValidImageCEL accepts, is true exactly
// when p matches it (Mentions when mentions is set, else Match). It is meaningless alone: an
// invalid image may match it. A Docker Hub pattern needs a second regex for the spellings without
// a registry, guarded against "localhost/...", which names a registry; any other pattern is one
// regex. A pattern on an IPv6 registry is "false": ValidImageCEL refuses those images anyway.
func PatternCEL(img string, p imageref.Pattern, mentions bool) string {
	explicit, implicit := PatternRegexes(p, mentions)
	switch {
	case explicit == "":
		return "false"
	case implicit == "":
		return matches(img, explicit)
	}
	return "(" + matches(img, explicit) + " || (!" + img + ".startsWith('localhost/') && " + matches(img, implicit) + "))"
}

// PatternRegexes returns the RE2 regexes over the raw reference that encode p's normalization:
// explicit for spellings that name the registry (any case of the host, and for Docker Hub both
// "docker.io/" and "index.docker.io/", with or without "library/"), implicit for Docker Hub
// spellings without a registry ("" for other registries). explicit is "" for an IPv6 registry.
func PatternRegexes(p imageref.Pattern, mentions bool) (explicit, implicit string) {
	registry, segs, pin := splitPattern(p.String())
	tail := pinRegex(pin, mentions) + `$`
	switch {
	case strings.HasPrefix(registry, "["):
		return "", ""
	case registry != imageref.DockerHub:
		return `^(?i:` + regexp.QuoteMeta(registry) + `)/` + pathRegex(segs, reComponent, 1) + tail, ""
	}
	// Docker Hub: a raw path of two or more components is the repository as written; a single
	// component c is "library/c".
	multi := pathRegex(segs, reComponent, 2)
	single := singleRegex(segs)
	explicit = `^(?:index\.)?docker\.io/` + alt(multi, single) + tail
	// Without a registry, a first component with '.' would be a host, so it must have none.
	var implicitMulti string
	if first := segs[0]; first == "*" || first == "**" || !strings.Contains(first, ".") {
		implicitMulti = pathRegex(segs, reNoDotComponent, 2)
	}
	if implicitMulti == "" && single == "" {
		return explicit, ""
	}
	return explicit, `^` + alt(implicitMulti, single) + tail
}

// splitPattern splits a canonical pattern (registry "/" path, then ":" tag or "@" digest).
func splitPattern(full string) (registry string, segs []string, pin string) {
	registry, rest, _ := strings.Cut(full, "/")
	if i := strings.IndexAny(rest, ":@"); i >= 0 {
		rest, pin = rest[:i], rest[i:]
	}
	return registry, strings.Split(rest, "/"), pin
}

// pathRegex matches the paths segs matches with at least minComps components; first is the
// regex for a first component that "*" or "**" stands for.
func pathRegex(segs []string, first string, minComps int) string {
	var b strings.Builder
	for i, s := range segs {
		comp := reComponent
		if i == 0 {
			comp = first
		}
		switch {
		case s == "**" && i == 0:
			b.WriteString(comp)
			if minComps > 1 {
				return b.String() + `(?:/` + reComponent + `)+`
			}
			return b.String() + `(?:/` + reComponent + `)*`
		case s == "**":
			if i < minComps {
				return b.String() + `(?:/` + reComponent + `)+`
			}
			return b.String() + `(?:/` + reComponent + `)*`
		}
		if i > 0 {
			b.WriteByte('/')
		}
		if s == "*" {
			b.WriteString(comp)
		} else {
			b.WriteString(regexp.QuoteMeta(s))
		}
	}
	if len(segs) < minComps {
		return ""
	}
	return b.String()
}

// singleRegex matches the single components c for which segs matches "library/c", the
// repository a one-component Docker Hub reference means; "" if there are none.
func singleRegex(segs []string) string {
	if segs[0] == "**" {
		return reComponent
	}
	if segs[0] != "library" && segs[0] != "*" {
		return ""
	}
	rem := segs[1:]
	if len(rem) == 2 && rem[1] == "**" {
		rem = rem[:1] // "**" matches zero segments
	}
	switch {
	case len(rem) != 1:
		return ""
	case rem[0] == "*" || rem[0] == "**":
		return reComponent
	}
	return regexp.QuoteMeta(rem[0])
}

// pinRegex matches what follows the path: any valid tag and digest when p pins nothing; else the
// pinned tag (the implicit "latest" included) or digest, as Match or Mentions reads them. It never
// matches a '/': in a valid reference none follows the path, so a path regex cannot stop early
// (without that, the single-component Docker Hub regex would read "registry.example.com" in
// "registry.example.com:5000/x" as a repository with a tag).
func pinRegex(pin string, mentions bool) string {
	digest := `(?:@[^/]*)?`
	if !mentions {
		digest = ""
	}
	switch {
	case pin == "":
		return `(?:[:@][^/]*)?`
	case pin[0] == '@':
		return `(?::[^@/]*)?` + regexp.QuoteMeta(pin)
	case pin == ":latest":
		return `(?::latest` + digest + `)?`
	}
	return regexp.QuoteMeta(pin) + digest
}

func alt(a, b string) string {
	switch {
	case a == "":
		return `(?:` + b + `)`
	case b == "":
		return `(?:` + a + `)`
	}
	return `(?:` + a + `|` + b + `)`
}
