package imageref

import (
	"fmt"
	"strings"
)

// Pattern is a compiled image pattern like "registry.example.com/**", "ghcr.io/acme/*",
// "docker.io/library/nginx", "nginx", "ubuntu:24.04" or "app@sha256:...". The zero Pattern
// matches nothing. See the package documentation for the syntax and semantics.
type Pattern struct {
	// full is the canonical pattern, registry "/" path, where a path segment may be "*"
	// or (last) "**", then ":" tag or "@" digest when the pattern pins one. Keeping one
	// string rather than a slice of segments makes Pattern comparable and Match
	// allocation-free.
	full    string
	hostLen int // full[:hostLen] is the registry
	nameLen int // full[:nameLen] is registry "/" path; full[nameLen] is ':' or '@' if pinned
}

// CompilePattern parses an image pattern. A pattern is written like an image name,
// optionally pinned to one tag (":24.04") or one digest ("@sha256:..."), and normalized
// exactly as Parse normalizes a reference, with "*" or "**" allowed as whole path
// segments. Spellings whose intent is ambiguous are rejected with a hint rather than
// guessed at.
func CompilePattern(s string) (Pattern, error) {
	if reason := checkInput(s, "pattern"); reason != "" {
		return Pattern{}, patternError(s, reason)
	}
	name, tag, digest := s, "", ""
	at := strings.IndexByte(name, '@')
	if at >= 0 {
		name, digest = name[:at], name[at+1:]
	}
	// A ':' after the last '/' starts the tag; one before it belongs to host:port.
	colon := strings.LastIndexByte(name, ':')
	hasTag := colon > strings.LastIndexByte(name, '/')
	if hasTag {
		name, tag = name[:colon], name[colon+1:]
	}
	if strings.IndexByte(name, '/') < 0 && looksLikeHost(name) {
		// As an image, "registry.example.com" is the Docker Hub repository
		// library/registry.example.com (and "registry.example.com:5000" its tag 5000); as
		// a pattern it is surely meant as a registry.
		host := name
		if hasTag {
			host += ":" + tag
		}
		return Pattern{}, patternError(s, fmt.Sprintf(
			"a pattern without '/' names a Docker Hub image; to match every repository on registry %s write %q", host, host+"/**"))
	}
	if hasTag && at >= 0 {
		return Pattern{}, patternError(s, fmt.Sprintf(
			"a pattern pins a tag or a digest, not both: the digest is what runs; write %q", name+"@"+digest))
	}
	if hasTag {
		if strings.IndexByte(tag, '*') >= 0 {
			return Pattern{}, patternError(s, "wildcards are not allowed in a tag; tags are compared exactly, so list each tag")
		}
		if reason := checkTag(tag); reason != "" {
			return Pattern{}, patternError(s, reason)
		}
	}
	if at >= 0 {
		if reason := checkDigest(digest); reason != "" {
			return Pattern{}, patternError(s, reason)
		}
	}

	host, path, hasHost := splitHost(name)
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
	p := Pattern{hostLen: len(registry), nameLen: len(full)}
	switch {
	case hasTag:
		full += ":" + tag
	case at >= 0:
		full += "@" + digest
	}
	p.full = full
	return p, nil
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

// Match reports whether p matches r, read the way a list that grants must read it. It
// compares the parsed registry exactly (port included) and the repository segment by segment,
// never as a string prefix ("*" matches exactly one segment and a final "**" zero or
// more); then a pinned digest must equal r's digest, and a pinned tag r's tag, compared
// exactly (a reference with neither tag nor digest has the tag "latest", which is what
// runtimes pull). A tag-pinned pattern does not match a reference that also carries a
// digest: the digest is what runs, and the tag beside it is not checked against it, so
// "ubuntu:24.04" does not vouch for "ubuntu:24.04@sha256:<anything>". Allowlists and
// exceptions use Match.
func (p Pattern) Match(r Reference) bool {
	return p.matchName(r) && p.matchPin(r, false)
}

// Mentions is Match for lists that refuse what they name (deny-lists): a tag-pinned
// pattern also matches a reference that carries that tag beside a digest, since the
// reference claims to be that tag. A refusal must not overlook what a reference claims,
// as a grant must not trust it. Neither reading can tell which tag a digest was pushed
// as without asking the registry, so "ubuntu@sha256:..." never matches "ubuntu:24.04".
func (p Pattern) Mentions(r Reference) bool {
	return p.matchName(r) && p.matchPin(r, true)
}

// Pinned reports whether p pins a tag or a digest.
func (p Pattern) Pinned() bool {
	return p.nameLen < len(p.full)
}

func (p Pattern) matchPin(r Reference, claimed bool) bool {
	if !p.Pinned() {
		return true
	}
	pin := p.full[p.nameLen+1:]
	if p.full[p.nameLen] == '@' {
		return r.Digest == pin
	}
	tag := r.Tag
	if tag == "" && r.Digest == "" {
		tag = "latest"
	}
	return tag == pin && (r.Digest == "" || claimed)
}

func (p Pattern) matchName(r Reference) bool {
	if p.full == "" || r.Registry != p.full[:p.hostLen] || r.Repository == "" {
		return false
	}
	pat, repo := p.full[p.hostLen+1:p.nameLen], r.Repository
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

// String returns the canonical pattern, e.g. "docker.io/library/nginx" for "nginx" and
// "docker.io/library/ubuntu:24.04" for "ubuntu:24.04".
func (p Pattern) String() string {
	return p.full
}
