package secrets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Match is where a secret was found: its kind and the byte offsets of the secret in the input,
// s[Start:End]. It holds no copy of the secret.
type Match struct {
	// Kind names the format: "AWS access key ID", or a policy pattern's name.
	Kind string
	// Start and End are byte offsets into the input.
	Start, End int
	// Added is true when the format is one a policy added with Compile: Kind is then the policy's
	// name for it, which a message quotes.
	Added bool
}

// Pattern is a format a policy adds: a name for messages and an RE2 expression. When the
// expression has a capturing group, the first group is the secret (the rest is context, such as a
// variable name); otherwise the whole match is.
type Pattern struct {
	Name  string
	Regex string
}

// MaxPatternBytes bounds the text of a pattern a policy adds.
const MaxPatternBytes = 1024

// maxPatternInsts bounds a compiled pattern's program, which a short expression can still make
// large ("[a-z]{1000}" is a thousand instructions). Matching time is linear in the input times
// the program, so this bounds the cost of a policy's patterns per byte of pod.
const maxPatternInsts = 4096

// Detector finds secrets: the built-in formats and a policy's own. It is safe for concurrent use.
type Detector struct {
	patterns []compiled
}

// compiled is one format ready to match.
type compiled struct {
	kind     string
	added    bool
	re       *regexp.Regexp
	keywords []string
	fold     bool
	verify   func(string) bool
}

// defaultDetector holds the built-in formats; the table is fixed at compile time and a test
// compiles it.
var defaultDetector = mustDefault()

func mustDefault() *Detector {
	d := &Detector{patterns: make([]compiled, len(builtins))}
	for i, b := range builtins {
		d.patterns[i] = compiled{kind: b.kind, re: regexp.MustCompile(b.expr), keywords: b.keywords, fold: b.fold, verify: b.verify}
	}
	return d
}

// Default returns the detector of the built-in formats.
func Default() *Detector { return defaultDetector }

// Find returns the first secret of a built-in format in s: the one that starts first, and among
// those starting at one offset the first in the table. Pass "NAME=value" for an environment
// variable: the name is the context that some formats need (AWS_SECRET_ACCESS_KEY=…).
func Find(s string) (Match, bool) { return defaultDetector.Find(s) }

// Kinds returns the kinds of the built-in formats, in the table's order.
func Kinds() []string {
	k := make([]string, len(builtins))
	for i, b := range builtins {
		k[i] = b.kind
	}
	return k
}

// PatternError is the error Compile returns for a pattern it refuses: Index is the pattern's
// position in extra, so that a caller can name the field.
type PatternError struct {
	Index int
	Err   error
}

func (e *PatternError) Error() string { return fmt.Sprintf("pattern %d: %v", e.Index, e.Err) }
func (e *PatternError) Unwrap() error { return e.Err }

// Compile returns a detector of the built-in formats and extra, which are tried after them. It
// refuses a pattern with no name, one longer than MaxPatternBytes, one that is not valid RE2 or
// compiles to a large program, and one that matches the empty string (it would flag every value).
func Compile(extra []Pattern) (*Detector, error) {
	if len(extra) == 0 {
		return defaultDetector, nil
	}
	d := &Detector{patterns: make([]compiled, 0, len(builtins)+len(extra))}
	d.patterns = append(d.patterns, defaultDetector.patterns...)
	for i, p := range extra {
		re, err := compilePattern(p)
		if err != nil {
			return nil, &PatternError{Index: i, Err: err}
		}
		d.patterns = append(d.patterns, compiled{kind: p.Name, added: true, re: re})
	}
	return d, nil
}

func compilePattern(p Pattern) (*regexp.Regexp, error) {
	if strings.TrimSpace(p.Name) == "" {
		return nil, errors.New("name is required")
	}
	return compileRegex(p.Regex)
}

// ValidateRegex returns the error Compile would give for a pattern with this expression, so that a
// caller can check every pattern of a policy and name each bad one.
func ValidateRegex(expr string) error {
	_, err := compileRegex(expr)
	return err
}

func compileRegex(expr string) (*regexp.Regexp, error) {
	switch {
	case expr == "":
		return nil, errors.New("regex is required")
	case len(expr) > MaxPatternBytes:
		return nil, fmt.Errorf("regex is %d bytes, more than %d", len(expr), MaxPatternBytes)
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("regex is not valid RE2: %w", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, fmt.Errorf("regex is not valid RE2: %w", err)
	}
	if len(prog.Inst) > maxPatternInsts {
		return nil, fmt.Errorf("regex compiles to %d instructions, more than %d: use fewer or smaller repetitions",
			len(prog.Inst), maxPatternInsts)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regex is not valid RE2: %w", err)
	}
	if re.MatchString("") {
		return nil, errors.New("regex matches the empty string, so it would flag every value")
	}
	return re, nil
}

// Find returns the first secret in s: the one that starts first, and among those starting at one
// offset the first format (built-in formats before a policy's own).
func (d *Detector) Find(s string) (Match, bool) {
	best, ok := Match{}, false
	for i := range d.patterns {
		p := &d.patterns[i]
		if !p.mayMatch(s) {
			continue
		}
		start, end, found := p.find(s)
		if found && (!ok || start < best.Start) {
			best, ok = Match{Kind: p.kind, Start: start, End: end, Added: p.added}, true
		}
	}
	return best, ok
}

// FindEnv finds a secret in an environment variable: what Find(name + "=" + value) finds, with
// offsets into that string, but without building it unless a format may need the name. That is
// when the name holds a keyword of a built-in format ("SECRET" for the AWS secret access key, which
// is found only after such a name) or the detector has a policy's patterns, which may read the
// name; otherwise name and value are searched apart, and a variable with no secret costs no
// allocation.
func (d *Detector) FindEnv(name, value string) (Match, bool) {
	if d.needsName(name) {
		return d.Find(name + "=" + value)
	}
	if m, ok := d.Find(name); ok {
		return m, true
	}
	m, ok := d.Find(value)
	if ok {
		m.Start += len(name) + 1
		m.End += len(name) + 1
	}
	return m, ok
}

// needsName reports whether a format may match name=value differently from name and value
// apart. A built-in match across the "=" would hold one of its keywords before the "=", in name:
// the token formats stop at "=", and the context formats' keywords are the name they need.
func (d *Detector) needsName(name string) bool {
	for i := range d.patterns {
		p := &d.patterns[i]
		if p.added || p.mayMatch(name) {
			return true
		}
	}
	return false
}

// EnvFingerprint returns the fingerprint of the secret m that FindEnv(name, value) found.
func (m Match) EnvFingerprint(name, value string) string {
	switch n := len(name) + 1; {
	case m.End <= len(name):
		return Fingerprint(name[m.Start:m.End])
	case m.Start >= n:
		return Fingerprint(value[m.Start-n : m.End-n])
	}
	return m.Fingerprint(name + "=" + value)
}

// mayMatch reports whether s holds one of p's keywords, or p has none.
func (p *compiled) mayMatch(s string) bool {
	if len(p.keywords) == 0 {
		return true
	}
	for _, k := range p.keywords {
		if p.fold && containsFold(s, k) || !p.fold && strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains lower, which is lower-case ASCII, in any case. It
// allocates nothing, unlike lower-casing s.
func containsFold(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// find returns the offsets of p's first accepted match in s.
func (p *compiled) find(s string) (start, end int, ok bool) {
	if p.verify == nil {
		return secretOf(p.re.FindStringSubmatchIndex(s))
	}
	// The next search starts where the refused candidate ends, not where its match ends: the match
	// took the character after the candidate as its boundary, and that character is also the
	// boundary before the next one. Candidates do not overlap, so the searches together read s
	// about once, and each candidate is verified once.
	for off := 0; off < len(s); {
		start, end, ok := secretOf(p.re.FindStringSubmatchIndex(s[off:]))
		if !ok {
			break
		}
		start, end = start+off, end+off
		if p.verify(s[start:end]) {
			return start, end, true
		}
		off = end
	}
	return 0, 0, false
}

// secretOf picks the secret out of a match: the first group when the expression has one and it
// took part, the whole match otherwise.
func secretOf(loc []int) (start, end int, ok bool) {
	switch {
	case loc == nil:
		return 0, 0, false
	case len(loc) >= 4 && loc[2] >= 0 && loc[3] > loc[2]:
		return loc[2], loc[3], true
	case loc[1] > loc[0]:
		return loc[0], loc[1], true
	}
	return 0, 0, false
}

// Fingerprint names a secret without showing it: "sha256:" and the first 12 hex digits of the
// SHA-256 of the secret. The same secret always has the same fingerprint, in the webhook, the CLI
// and the audit alike, so findings can be matched to one credential; 48 bits of a hash of a
// random credential reveal nothing of it.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// Fingerprint returns the fingerprint of the secret m found in s.
func (m Match) Fingerprint(s string) string { return Fingerprint(s[m.Start:m.End]) }
