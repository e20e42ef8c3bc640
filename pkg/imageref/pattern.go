package imageref

import (
	"fmt"
	"strings"
)

// Pattern is a compiled allowlist pattern like "registry.example.com/**",
// "ghcr.io/acme/*", "docker.io/library/nginx" or "nginx". The zero Pattern matches
// nothing. See the package documentation for the syntax and semantics.
type Pattern struct {
	// full is the canonical pattern, registry "/" path, where a path segment may be
	// "*" or (last) "**". Keeping one string rather than a slice of segments makes
	// Pattern comparable and Match allocation-free.
	full    string
	hostLen int // full[:hostLen] is the registry
}

// CompilePattern parses an allowlist pattern. A pattern is written like an image name
// (no tag, no digest) and normalized exactly as Parse normalizes a reference, with "*"
// or "**" allowed as whole path segments. Spellings whose intent is ambiguous are
// rejected with a hint rather than guessed at.
func CompilePattern(s string) (Pattern, error) {
	if reason := checkInput(s, "pattern"); reason != "" {
		return Pattern{}, patternError(s, reason)
	}
	if strings.IndexByte(s, '@') >= 0 {
		return Pattern{}, patternError(s, "patterns match repositories and must not contain a digest")
	}
	if c := strings.LastIndexByte(s, ':'); c > strings.LastIndexByte(s, '/') {
		if looksLikeHost(s[:c]) && strings.IndexByte(s, '/') < 0 {
			return Pattern{}, patternError(s, fmt.Sprintf(
				"patterns must not contain a tag; to allow every repository on registry %s write %q", s, s+"/**"))
		}
		return Pattern{}, patternError(s, "patterns match repositories and must not contain a tag")
	}
	if strings.IndexByte(s, '/') < 0 && looksLikeHost(s) {
		// As an image, "registry.example.com" is the Docker Hub repository
		// library/registry.example.com; as a pattern it is surely meant as a registry.
		return Pattern{}, patternError(s, fmt.Sprintf(
			"a pattern without '/' names a Docker Hub image; to allow every repository on registry %s write %q", s, s+"/**"))
	}

	host, path, hasHost := splitHost(s)
	registry := DockerHub
	if hasHost {
		if strings.IndexByte(host, '*') >= 0 {
			return Pattern{}, patternError(s, "wildcards are not allowed in the registry host; name the host exactly")
		}
		var reason string
		if registry, reason = normalizeHost(host); reason != "" {
			return Pattern{}, patternError(s, reason)
		}
	}
	if reason := checkPatternPath(path, hasHost); reason != "" {
		return Pattern{}, patternError(s, reason)
	}
	// "docker.io/*" gets "library/" just as the reference "docker.io/nginx" does, so it
	// means the official images; "docker.io/**" means all of Docker Hub.
	if registry == DockerHub && strings.IndexByte(path, '/') < 0 && path != "**" {
		path = officialPrefix + path
	}
	full := registry + "/" + path
	// The shortest name the pattern matches has one character per "*" and nothing for a
	// final "/**"; if even that is over the limit, the pattern can match nothing.
	shortest := len(full)
	if strings.HasSuffix(full, "/**") {
		shortest -= len("/**")
	}
	if shortest > maxNameLength {
		return Pattern{}, patternError(s, fmt.Sprintf("pattern can only match names longer than %d characters",
			maxNameLength))
	}
	return Pattern{full: full, hostLen: len(registry)}, nil
}

func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || strings.EqualFold(s, "localhost")
}

// checkPatternPath validates a pattern path: lower-case components, "*" or "**".
func checkPatternPath(path string, hasHost bool) string {
	if reason := checkLowerCase(path); reason != "" {
		return reason
	}
	for first := true; ; first = false {
		seg, rest, more := strings.Cut(path, "/")
		switch {
		case seg == "*" || seg == "**":
			if first && !hasHost {
				// "*" alone would be read as docker.io/library/*, "**" as all of Docker
				// Hub; either may be meant as "any registry". Make the author say which.
				return "a pattern that starts with a wildcard must name its registry first, " +
					"e.g. \"docker.io/*\" or \"registry.example.com/**\""
			}
			if seg == "**" && more {
				return "'**' must be the last path segment"
			}
		case strings.IndexByte(seg, '*') >= 0:
			return fmt.Sprintf("'*' must be a whole path segment (\"*\" or \"**\"), not part of %q", seg)
		default:
			if reason := checkComponent(seg); reason != "" {
				return reason
			}
		}
		if !more {
			return ""
		}
		path = rest
	}
}

// Match reports whether r is allowed by p. It compares the parsed registry exactly
// (port included) and the repository segment by segment, never as a string prefix:
// "*" matches exactly one segment and a final "**" matches zero or more segments.
func (p Pattern) Match(r Reference) bool {
	if p.full == "" || r.Registry != p.full[:p.hostLen] || r.Repository == "" {
		return false
	}
	pat, repo := p.full[p.hostLen+1:], r.Repository
	for {
		pseg, prest, pmore := strings.Cut(pat, "/")
		if pseg == "**" {
			return true
		}
		rseg, rrest, rmore := strings.Cut(repo, "/")
		if rseg == "" || pseg != "*" && pseg != rseg {
			return false
		}
		switch {
		case !pmore:
			return !rmore
		case !rmore:
			// The repository ended; only a final "**" (matching zero segments) is left to match.
			return prest == "**"
		}
		pat, repo = prest, rrest
	}
}

// String returns the canonical pattern, e.g. "docker.io/library/nginx" for "nginx".
func (p Pattern) String() string {
	return p.full
}
