package policy

// Glob is a compiled name glob: '*' matches any run of characters (none included), '?' exactly one
// byte; every other character matches itself. Names are ASCII (DNS labels and subdomains), so
// bytes are characters.
type Glob string

// Match reports whether name matches the glob. It runs in O(len(glob)·len(name)) at worst, with no
// backtracking blow-up and no allocation.
func (g Glob) Match(name string) bool {
	p, s := string(g), name
	// star and mark remember the last '*' and where in s it was tried, to resume after a mismatch.
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// matchAny reports whether any glob matches name.
func matchAny(globs []Glob, name string) bool {
	for _, g := range globs {
		if g.Match(name) {
			return true
		}
	}
	return false
}

func globs(in []string) []Glob {
	if len(in) == 0 {
		return nil
	}
	out := make([]Glob, len(in))
	for i, s := range in {
		out[i] = Glob(s)
	}
	return out
}
