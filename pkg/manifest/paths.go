package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Options says what ReadAll reads.
type Options struct {
	// Ignore lists patterns (path.Match syntax, "/" as the separator) of files and directories not to
	// read: a path is ignored when a pattern matches it whole or matches a trailing part of it that
	// starts after a "/", so "Chart.yaml" ignores every chart's Chart.yaml and "*/templates/*" every
	// file directly in a templates directory, wherever it is.
	Ignore []string
}

// Input is what ReadAll read: every document that could be read, the warnings, and an Error for
// each file or document that could not.
type Input struct {
	Docs     []Document
	Warnings []Warning
	Errors   []*Error
}

// ReadAll reads every path as ReadPaths does, with two differences: a path that does not exist but
// holds a glob pattern ("manifests/*.yaml") reads the files and directories it matches, in lexical
// order, and nothing stops at the first error. A file that cannot be opened, a pattern that matches
// nothing, and a document that cannot be read are each an Error; reading goes on with the next
// document where the input can be split without the bad one (the next YAML document, the next JSON
// value after a valid value that is not an object) and otherwise with the next file.
func ReadAll(paths []string, stdin io.Reader, opts Options) *Input {
	in := &Input{}
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				in.Errors = append(in.Errors, &Error{Source: "-", Err: errors.New("no standard input to read")})
				continue
			}
			in.read("-", stdin)
			continue
		}
		files, err := matchPath(p, opts.Ignore)
		if err != nil {
			in.Errors = append(in.Errors, fileError(p, err))
			continue
		}
		for _, f := range files {
			r, err := os.Open(f)
			if err != nil {
				in.Errors = append(in.Errors, fileError(f, err))
				continue
			}
			in.read(f, r)
			r.Close()
		}
	}
	return in
}

func (in *Input) read(source string, r io.Reader) {
	s := newStream(source, r, defaultLimits)
	s.keepGoing = true
	if err := s.read(); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = s.fail(s.line, err)
		}
		s.errs = append(s.errs, e)
	}
	in.Docs = append(in.Docs, s.docs...)
	in.Warnings = append(in.Warnings, s.warns...)
	in.Errors = append(in.Errors, s.errs...)
}

// fileError is a file that cannot be read at all; the operating system's message names the file
// already, so only its reason is kept.
func fileError(name string, err error) *Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{Source: name, Err: err}
}

// matchPath lists the files p names: p itself, the manifests of a directory, or, for a glob pattern
// that is not an existing path, those of every match that ignore does not match.
func matchPath(p string, ignore []string) ([]string, error) {
	if _, err := os.Stat(p); err == nil || !hasMeta(p) {
		if err == nil && ignored(p, ignore) {
			return nil, nil
		}
		return expand(p, ignore)
	}
	matches, err := filepath.Glob(p)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	if len(matches) == 0 {
		return nil, errors.New("no file matches this pattern")
	}
	var files []string
	for _, m := range matches {
		if ignored(m, ignore) {
			continue
		}
		found, err := expand(m, ignore)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		return nil, errors.New("--ignore matches every file this pattern matches")
	}
	return files, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// ignored reports whether a pattern of ignore matches name or a trailing part of it (see Options).
func ignored(name string, ignore []string) bool {
	if len(ignore) == 0 {
		return false
	}
	name = filepath.ToSlash(filepath.Clean(name))
	for _, pat := range ignore {
		pat = filepath.ToSlash(pat)
		for rest := name; ; {
			if ok, _ := path.Match(pat, rest); ok {
				return true
			}
			_, after, found := strings.Cut(rest, "/")
			if !found {
				break
			}
			rest = after
		}
	}
	return false
}

// ValidPattern checks an --ignore pattern.
func ValidPattern(pattern string) error {
	if _, err := path.Match(filepath.ToSlash(pattern), ""); err != nil {
		return fmt.Errorf("%q: %w", pattern, err)
	}
	return nil
}
