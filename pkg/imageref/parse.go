package imageref

import (
	"fmt"
	"strings"
)

const (
	// DockerHub is the one registry name Docker Hub images get, however they are spelled.
	DockerHub = "docker.io"
	// legacyDockerHub is the other spelling runtimes fold into Docker Hub.
	// registry-1.docker.io is deliberately not one: runtimes treat it as its own host.
	legacyDockerHub = "index.docker.io"
	officialPrefix  = "library/"
)

// Reference is a parsed, normalized image reference. Two spellings of the same image
// (for example "nginx" and "docker.io/library/nginx") parse to equal References, so a
// Reference can be compared with == and used as a map key.
type Reference struct {
	Registry   string // lower-case host[:port]; Docker Hub is always "docker.io"
	Repository string // path without registry; Docker Hub official images get "library/" ("library/nginx")
	Tag        string // "" if none
	Digest     string // "" or "algorithm:hex" e.g. "sha256:<64 hex>"
}

// Parse parses and normalizes an image reference as a container runtime would read it,
// and rejects anything the runtime might read differently or that is not plainly valid:
// see the package documentation for the rules. The error is an *Error whose message
// quotes s and says what is wrong.
//
// Parse does not allocate for a reference that names its registry in lower case; a
// Docker Hub short name ("nginx") costs one allocation for "library/", an upper-case or
// IPv6 host one for its canonical spelling.
func Parse(s string) (Reference, error) {
	if reason := checkInput(s, "reference"); reason != "" {
		return Reference{}, refError(s, reason)
	}
	var ref Reference
	name := s
	at := strings.IndexByte(name, '@')
	if at >= 0 {
		name, ref.Digest = name[:at], name[at+1:]
	}
	// A ':' after the last '/' starts the tag; one before it belongs to host:port.
	colon := strings.LastIndexByte(name, ':')
	hasTag := colon > strings.LastIndexByte(name, '/')
	if hasTag {
		name, ref.Tag = name[:colon], name[colon+1:]
	}
	if name == "" {
		return Reference{}, refError(s, "repository name is missing")
	}

	host, path, hasHost := splitHost(name)
	ref.Registry = DockerHub
	if hasHost {
		var reason string
		if ref.Registry, reason = normalizeHost(host); reason != "" {
			return Reference{}, refError(s, reason)
		}
	}
	if reason := checkPath(path); reason != "" {
		return Reference{}, refError(s, reason)
	}
	if ref.Registry == DockerHub && strings.IndexByte(path, '/') < 0 {
		if !hasHost && isImageID(path) {
			// Runtimes refuse these too: a bare 64-hex string is an image ID, not a name.
			return Reference{}, refError(s, "a 64-character hex string is an image id, not a repository name")
		}
		path = officialPrefix + path
	}
	ref.Repository = path
	if n := len(ref.Registry) + 1 + len(path); n > maxNameLength {
		return Reference{}, refError(s, fmt.Sprintf("name %s/... is %d characters long; the limit is %d",
			ref.Registry, n, maxNameLength))
	}

	if hasTag {
		if reason := checkTag(ref.Tag); reason != "" {
			return Reference{}, refError(s, reason)
		}
	}
	if at >= 0 {
		if reason := checkDigest(ref.Digest); reason != "" {
			return Reference{}, refError(s, reason)
		}
	}
	return ref, nil
}

// checkPath validates a repository path: one or more lower-case components.
func checkPath(path string) string {
	if reason := checkLowerCase(path); reason != "" {
		return reason
	}
	for {
		seg, rest, more := strings.Cut(path, "/")
		if reason := checkComponent(seg); reason != "" {
			return reason
		}
		if !more {
			return ""
		}
		path = rest
	}
}

func isImageID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Name returns registry/repository, e.g. "docker.io/library/nginx".
func (r Reference) Name() string {
	if r.Registry == "" && r.Repository == "" {
		return ""
	}
	return r.Registry + "/" + r.Repository
}

// String returns the canonical form, name[:tag][@digest]. Parse(r.String()) returns r.
func (r Reference) String() string {
	return r.build(r.Digest)
}

// IsLatest reports whether r names the "latest" tag, explicitly or implicitly (no tag
// and no digest, which runtimes resolve to ":latest"). "app:latest@sha256:..." counts:
// the digest pins the content, but the tag still says "latest", which a rule against
// latest tags is meant to catch.
func (r Reference) IsLatest() bool {
	return r.Tag == "latest" || r.Tag == "" && r.Digest == ""
}

// WithDigest returns r's canonical name pinned to digest d, keeping the tag if r has
// one ("registry.example.com/app:1.2@sha256:..."); any digest r already has is
// replaced. It is what a denial message tells a user to write. d is used as given:
// check it with ValidateDigest if it came from outside.
func (r Reference) WithDigest(d string) string {
	return r.build(d)
}

// build writes name[:tag][@digest] with a single allocation.
func (r Reference) build(digest string) string {
	if r.Registry == "" && r.Repository == "" {
		return ""
	}
	n := len(r.Registry) + 1 + len(r.Repository)
	if r.Tag != "" {
		n += 1 + len(r.Tag)
	}
	if digest != "" {
		n += 1 + len(digest)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(r.Registry)
	b.WriteByte('/')
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if digest != "" {
		b.WriteByte('@')
		b.WriteString(digest)
	}
	return b.String()
}
