package imageref

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// The validators in this file implement the grammar of github.com/distribution/reference
// (the grammar container runtimes parse with) minus the parts we deliberately refuse, as
// hand-written scanners: they run for every container of every admission, and a scanner
// neither allocates nor backtracks. Each returns "" when the input is valid and otherwise
// a lower-case reason for an Error.
//
//	reference        := name [ ":" tag ] [ "@" digest ]
//	name             := [ host [ ":" port ] "/" ] path-component *( "/" path-component )
//	host             := domain-label *( "." domain-label ) | "[" ipv6-address "]"
//	domain-label     := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//	path-component   := [a-z0-9]+ *( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )
//	tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//	digest           := algorithm ":" hex
//	algorithm        := [A-Za-z][A-Za-z0-9]* *( [-_+.] [A-Za-z][A-Za-z0-9]* )

const (
	// maxInputLength bounds the input before anything else looks at it, so hostile input
	// costs little. The longest valid reference is a 255-byte name (plus 6 for an
	// "index.docker.io" spelling), a 128-byte tag and a sha512 digest: about 530 bytes.
	maxInputLength = 1024
	// maxNameLength is distribution's limit on the normalized name, registry/repository.
	maxNameLength = 255
	maxTagLength  = 128
)

// checkInput rejects what no part of the grammar allows anywhere: emptiness, excess
// length, whitespace, control and non-ASCII characters (no IDNA: a homoglyph host must
// never pass for a trusted one), and URL schemes. noun is "reference" or "pattern".
// It is one pass over the input with a single comparison per ordinary byte, because it
// is the only check that reads every byte.
func checkInput(s, noun string) string {
	if s == "" {
		return noun + " is empty"
	}
	if len(s) > maxInputLength {
		return fmt.Sprintf("%s is longer than %d characters", noun, maxInputLength)
	}
	scheme := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c-'!' <= '~'-'!' && c != ':' { // printable ASCII other than ':'
			continue
		}
		if c == ':' {
			scheme = scheme || strings.HasPrefix(s[i+1:], "//")
			continue
		}
		return badCharacter(s, i)
	}
	if scheme {
		return "must not include a URL scheme such as \"https://\"; write host/repository"
	}
	return ""
}

func badCharacter(s string, i int) string {
	switch c := s[i]; {
	case c >= utf8.RuneSelf:
		r, _ := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError {
			return fmt.Sprintf("contains a byte that is not ASCII (0x%02x) at offset %d", c, i)
		}
		return fmt.Sprintf("contains non-ASCII character %U at offset %d; only ASCII is allowed", r, i)
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
		return fmt.Sprintf("contains whitespace at offset %d", i)
	default:
		return fmt.Sprintf("contains control character 0x%02x at offset %d", c, i)
	}
}

// splitHost splits a name (no tag, no digest) into its host and path with docker's rule:
// the first component is a host only if there is a "/" after it and it contains "." or
// ":" or is "localhost". Unlike docker, an upper-case first component is not taken as a
// host: "Acme/app" is an upper-case repository and is rejected, not pulled from "Acme".
func splitHost(name string) (host, path string, ok bool) {
	i := strings.IndexByte(name, '/')
	if i < 0 {
		return "", name, false
	}
	first := name[:i]
	if strings.ContainsAny(first, ".:") || strings.EqualFold(first, "localhost") {
		return first, name[i+1:], true
	}
	return "", name, false
}

// normalizeHost validates host[:port] and returns its canonical spelling: lower case,
// IPv6 in RFC 5952 form, and Docker Hub's aliases folded to DockerHub.
func normalizeHost(h string) (string, string) {
	if h == "" {
		return "", "registry host is empty"
	}
	if h[0] == '[' {
		return normalizeIPv6Host(h)
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort {
		if reason := checkPort(port); reason != "" {
			return "", reason
		}
	}
	if name == "" {
		return "", "registry host is empty"
	}
	upper := false
	label := 0 // length of the current label
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", "registry host has an empty label (leading, trailing or double '.')"
			}
			if name[i-1] == '-' {
				return "", "registry host label must not end with '-'"
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return "", "registry host label must not start with '-'"
			}
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			return "", fmt.Sprintf("registry host contains invalid character %q", c)
		}
		label++
	}
	if label == 0 {
		return "", "registry host has an empty label (leading, trailing or double '.')"
	}
	if name[len(name)-1] == '-' {
		return "", "registry host label must not end with '-'"
	}
	if !upper {
		if h == DockerHub || h == legacyDockerHub {
			return DockerHub, ""
		}
		return h, "" // the common case: no allocation
	}
	lower := strings.ToLower(h)
	if lower == DockerHub || lower == legacyDockerHub {
		// Runtimes fold only the exact lower-case spellings into Docker Hub (and then add
		// "library/"); anything else they send to that literal host. Rather than guess,
		// refuse the one spelling whose meaning would differ between us and the runtime.
		return "", "docker hub host must be written in lower case (\"docker.io\")"
	}
	return lower, ""
}

// normalizeIPv6Host handles "[addr]" and "[addr]:port". Zones and IPv4-mapped or dotted
// forms are refused, as distribution does; the address is rewritten in its canonical
// form so that "[0:0::1]" and "[::1]" are one registry.
func normalizeIPv6Host(h string) (string, string) {
	end := strings.IndexByte(h, ']')
	if end < 0 {
		return "", "ipv6 registry host is missing ']'"
	}
	lit, rest := h[1:end], h[end+1:]
	if rest != "" {
		if rest[0] != ':' {
			return "", "ipv6 registry host must be followed by ':port' or '/'"
		}
		if reason := checkPort(rest[1:]); reason != "" {
			return "", reason
		}
	}
	for i := 0; i < len(lit); i++ {
		if c := lit[i]; !isHex(c) && c != ':' {
			return "", fmt.Sprintf("ipv6 registry host contains invalid character %q", c)
		}
	}
	addr, err := netip.ParseAddr(lit)
	if err != nil || !addr.Is6() {
		return "", "ipv6 registry host is not a valid ipv6 address"
	}
	if addr.Is4In6() {
		return "", "ipv4-mapped ipv6 registry hosts are not allowed; use the ipv4 address"
	}
	return "[" + addr.String() + "]" + rest, ""
}

// checkPort accepts 1-65535 written without leading zeros, so each port has one
// spelling and "host:05000" cannot slip past a pattern for "host:5000".
func checkPort(p string) string {
	if p == "" {
		return "registry port is empty"
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return fmt.Sprintf("registry port %q is not a number", p)
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return fmt.Sprintf("registry port %q is out of range 1-65535", p)
		}
	}
	if n == 0 {
		return fmt.Sprintf("registry port %q is out of range 1-65535", p)
	}
	if p[0] == '0' {
		return fmt.Sprintf("registry port %q must not have leading zeros", p)
	}
	return ""
}

// checkLowerCase gives upper case its own reason: it is the most common mistake, and
// the generic "invalid character" would not say how to fix it.
func checkLowerCase(path string) string {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c >= 'A' && c <= 'Z' {
			return "repository must be lower-case"
		}
	}
	return ""
}

// checkComponent validates one path component (between slashes).
func checkComponent(seg string) string {
	if seg == "" {
		return "repository has an empty path component (leading, trailing or double '/')"
	}
	i := 0
	for {
		start := i
		for i < len(seg) && isLowerAlnum(seg[i]) {
			i++
		}
		if i == start {
			if i < len(seg) && !isSeparator(seg[i]) {
				return fmt.Sprintf("repository contains invalid character %q", seg[i])
			}
			return badSeparators(seg)
		}
		if i == len(seg) {
			return ""
		}
		switch seg[i] {
		case '.':
			i++
		case '_':
			i++
			if i < len(seg) && seg[i] == '_' {
				i++
			}
		case '-':
			for i < len(seg) && seg[i] == '-' {
				i++
			}
		default:
			return fmt.Sprintf("repository contains invalid character %q", seg[i])
		}
		if i == len(seg) {
			return badSeparators(seg)
		}
	}
}

func badSeparators(seg string) string {
	return fmt.Sprintf("path component %q must start and end with a letter or digit, "+
		"with only '.', '_', '__' or dashes between them", seg)
}

// checkTag validates a tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func checkTag(t string) string {
	if t == "" {
		return "tag is empty (nothing after ':')"
	}
	if len(t) > maxTagLength {
		return fmt.Sprintf("tag is longer than %d characters", maxTagLength)
	}
	if t[0] == '.' || t[0] == '-' {
		return "tag must start with a letter, digit or '_'"
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isWord(c) && c != '.' && c != '-' {
			return fmt.Sprintf("tag contains invalid character %q", c)
		}
	}
	return ""
}

// checkDigest validates "algorithm:hex". Only the algorithms container runtimes can
// verify are accepted, each with its exact length in lower-case hex: distribution's
// looser "any algorithm, 32+ hex digits" would admit digests nothing can check.
func checkDigest(d string) string {
	if d == "" {
		return "digest is empty (nothing after '@')"
	}
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return "digest must have the form algorithm:hex, e.g. sha256:<64 hex digits>"
	}
	if !validAlgorithm(alg) {
		return fmt.Sprintf("digest algorithm %q is malformed", alg)
	}
	var want int
	switch alg {
	case "sha256":
		want = 64
	case "sha384":
		want = 96
	case "sha512":
		want = 128
	default:
		return fmt.Sprintf("digest algorithm %q is not supported (use sha256, sha384 or sha512)", alg)
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if c >= 'A' && c <= 'F' {
			return "digest hex must be lower-case"
		}
		if !isHex(c) {
			return fmt.Sprintf("digest contains invalid character %q", c)
		}
	}
	if len(hex) != want {
		return fmt.Sprintf("%s digest must have %d hex digits, got %d", alg, want, len(hex))
	}
	return ""
}

func validAlgorithm(alg string) bool {
	start := true // at the start of an algorithm component
	for i := 0; i < len(alg); i++ {
		c := alg[i]
		switch {
		case isLetter(c):
			start = false
		case c >= '0' && c <= '9':
			if start {
				return false
			}
		case c == '-' || c == '_' || c == '+' || c == '.':
			if start {
				return false
			}
			start = true
		default:
			return false
		}
	}
	return !start
}

// ValidateDigest reports whether d is a digest Parse would accept ("sha256:" and 64
// lower-case hex digits, or sha384/sha512 with 96/128), for digests that come from
// somewhere other than a parsed reference, such as a registry response.
func ValidateDigest(d string) error {
	if reason := checkDigest(d); reason != "" {
		return &Error{Kind: "digest", Input: d, Reason: reason}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isLetter(c byte) bool     { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isWord(c byte) bool       { return isLetter(c) || c >= '0' && c <= '9' || c == '_' }
func isHex(c byte) bool        { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isSeparator(c byte) bool  { return c == '.' || c == '_' || c == '-' }
