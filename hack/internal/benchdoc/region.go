// Package benchdoc writes a bench program's region of docs/performance.md: the text between its
// begin and end markers, which the program owns and rewrites on each run, leaving the rest of the
// document (and the regions of the other programs) as it is.
package benchdoc

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Region is one program's part of a document: Begin and End are its markers (HTML comments), and
// Heading the section heading it goes under when the document does not have it yet.
type Region struct {
	Begin, End, Heading string
}

// Write puts text (markers included) into the file at path in place of the region, or, when the
// file has none, at its end under Heading.
func (r Region) Write(path, text string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc, err := r.Replace(string(old), text)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// Replace returns doc with text in place of the region, or with text appended under Heading when
// doc has no region. Markers out of order or repeated are an error: which part to replace would be
// a guess.
func (r Region) Replace(doc, text string) (string, error) {
	text = strings.TrimSuffix(text, "\n")
	begin, end := strings.Index(doc, r.Begin), strings.Index(doc, r.End)
	switch {
	case begin < 0 && end < 0:
		if doc != "" {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + r.Heading + "\n\n" + text + "\n", nil
	case begin < 0 || end < begin || strings.Count(doc, r.Begin) != 1 || strings.Count(doc, r.End) != 1:
		return "", fmt.Errorf("want one %s and, after it, one %s", r.Begin, r.End)
	}
	return doc[:begin] + text + doc[end+len(r.End):], nil
}
