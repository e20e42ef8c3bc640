// Package manifest reads Kubernetes objects from YAML or JSON files, directories and streams: the
// input of `sealgate check` and of policy files. It reads what kubectl reads from the same bytes
// (YAML documents separated by "---", JSON objects back to back, List objects flattened into their
// items) and never drops an object: whatever it cannot read fails with the file, the document and
// the line. Every document is read under MaxDocumentBytes and every file or stream under
// MaxInputBytes, so an endless or runaway input fails fast instead of eating memory.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	// MaxDocumentBytes bounds one document, both as written and as the JSON it becomes (YAML aliases
	// can expand a small document). The API server stores objects of at most about 1.5 MiB, so a
	// larger document is a mistake or an attack.
	MaxDocumentBytes = 8 << 20
	// MaxInputBytes bounds one file or standard input, blank lines and empty documents included, so
	// that a stream that never ends (/dev/zero, `yes ---`) fails instead of running forever. A
	// directory is many files, each under this bound.
	MaxInputBytes = 256 << 20
)

var (
	// ErrDocumentTooLarge is the cause of an Error for a document larger than MaxDocumentBytes.
	ErrDocumentTooLarge = fmt.Errorf("larger than %d MiB, the limit for one document", MaxDocumentBytes>>20)
	// ErrInputTooLarge is the cause of an Error for a file or stream larger than MaxInputBytes.
	ErrInputTooLarge = fmt.Errorf("input larger than %d MiB, the limit for one file or stream", MaxInputBytes>>20)
)

// Document is one object read from an input, in JSON, with where it came from.
type Document struct {
	// Source is the file name ("-" for standard input).
	Source string
	// Index is the 1-based position of the document in Source; items of a List share it.
	Index int
	// Item is the 1-based position inside a List, or 0.
	Item int
	// Line is the 1-based line of Source where the document starts (for items, where their List
	// starts).
	Line int
	// Column is the 1-based column of Line where the document starts: its first key in YAML, its
	// "{" in JSON (for items, their List's).
	Column int
	// APIVersion and Kind are read from the object.
	APIVersion, Kind string
	// JSON is the object. It never repeats a key: a repeated key is resolved to its last value, as
	// the API server reads it, and reported as a Warning.
	JSON []byte
}

// Where names the document for error messages: "file.yaml: document 2" or "file.yaml: document 2, item 3".
func (d *Document) Where() string {
	return where(d.Source, d.Index, d.Item)
}

func where(source string, index, item int) string {
	if item > 0 {
		return fmt.Sprintf("%s: document %d, item %d", source, index, item)
	}
	return fmt.Sprintf("%s: document %d", source, index)
}

// Error is a document that cannot be read. Line is the line of the problem when the parser names
// one, and otherwise the line where the document starts. An Index of 0 is a file that cannot be
// read at all (ReadAll).
type Error struct {
	Source      string
	Index, Item int
	Line        int
	Err         error
}

func (e *Error) Error() string {
	if e.Index == 0 {
		return fmt.Sprintf("%s: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("%s: line %d: %v", where(e.Source, e.Index, e.Item), e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Warning is something in a document that does not stop reading: a key repeated in one mapping,
// which is read as the API server reads it (the last value wins). Policy files treat it as an error.
type Warning struct {
	Source string
	Index  int
	// Line is the line of the repeated key (of its value, for YAML), or where the document starts.
	Line int
	// Key is the repeated key; Path is the object holding it ("" at the top or when not known).
	Key, Path string
	// More counts further repeated keys in the same document that are not listed, each document
	// listing at most a few.
	More int
}

// Problem says what the warning is about: `duplicate key "image" in spec.containers[0]`.
func (w Warning) Problem() string {
	var b strings.Builder
	fmt.Fprintf(&b, "duplicate key %q", w.Key)
	if w.Path != "" {
		fmt.Fprintf(&b, " in %s", w.Path)
	}
	if w.More > 0 {
		fmt.Fprintf(&b, " (and %d more duplicate keys in this document)", w.More)
	}
	return b.String()
}

// String is the warning as `sealgate check` prints it.
func (w Warning) String() string {
	return fmt.Sprintf("%s: line %d: %s; the last value is used, as the API server reads it",
		where(w.Source, w.Index, 0), w.Line, w.Problem())
}

// ReadPaths reads every file named, walking directories for *.yaml, *.yml and *.json in lexical
// order. "-" reads stdin. It returns every document, or the first one that cannot be read as an
// *Error, and the warnings of every document read.
func ReadPaths(paths []string, stdin io.Reader) ([]Document, []Warning, error) {
	var (
		docs  []Document
		warns []Warning
	)
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				return nil, nil, errors.New("-: no standard input to read")
			}
			d, w, err := Read("-", stdin)
			if err != nil {
				return nil, nil, err
			}
			docs, warns = append(docs, d...), append(warns, w...)
			continue
		}
		files, err := expand(p, nil)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			d, w, err := readFile(f)
			if err != nil {
				return nil, nil, err
			}
			docs, warns = append(docs, d...), append(warns, w...)
		}
	}
	return docs, warns, nil
}

// expand lists the files p names: p itself, or the manifests of directory p, without those ignore
// matches (see Options.Ignore).
func expand(p string, ignore []string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	skipped := 0
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != p && ignored(path, ignore) {
			skipped++
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	if len(files) == 0 && skipped > 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files that --ignore does not match", p)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
	}
	return files, nil
}

func readFile(name string) ([]Document, []Warning, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return Read(name, f)
}

// Read reads every document of a YAML or JSON stream, as kubectl's decoder splits it: a stream whose
// first non-space byte is '{' is read as JSON values back to back (falling back to YAML when the
// first or second value is not JSON, as kubectl does), any other stream as YAML documents separated
// by lines starting with "---". Empty and null documents are skipped and not counted. A document
// that is not an object with apiVersion and kind, or that holds more than one YAML document, is an
// *Error naming the source, the document and the line.
func Read(source string, r io.Reader) ([]Document, []Warning, error) {
	s := newStream(source, r, defaultLimits)
	if err := s.read(); err != nil {
		return nil, nil, err
	}
	return s.docs, s.warns, nil
}
