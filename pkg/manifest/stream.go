package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// limits are the bounds one Read works under; tests shrink them.
type limits struct {
	document int   // bytes of one document, as written and as JSON
	input    int64 // bytes of one file or stream
}

var defaultLimits = limits{document: MaxDocumentBytes, input: MaxInputBytes}

// sniffBytes is how far kubectl's decoder looks for a '{' to decide that a stream is JSON.
const sniffBytes = 4096

// stream reads the documents of one input.
type stream struct {
	source string
	lim    limits
	br     *bufio.Reader
	line   int // line of the next byte to read from br
	col    int // column of the next byte, while reading JSON
	index  int // documents counted so far
	docs   []Document
	warns  []Warning
	// jsonErr is why the JSON value at the start of the YAML that follows it was not JSON: when
	// that first YAML document fails too, the JSON error is the one to report (as kubectl does).
	jsonErr error
	// keepGoing records a document that cannot be read in errs and reads on, where the input can be
	// split without it (the next YAML document; the next JSON value when this one was valid JSON).
	keepGoing bool
	errs      []*Error
}

func newStream(source string, r io.Reader, lim limits) *stream {
	br := bufio.NewReaderSize(&boundedReader{r: r, left: lim.input + 1}, 64<<10)
	return &stream{source: source, lim: lim, br: br, line: 1, col: 1}
}

// boundedReader fails, rather than ending, once more than the limit has been read: a limit that
// looked like the end of the input would drop the rest of it.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrInputTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// skipped records err, a document that cannot be read, and reports whether reading goes on: with
// keepGoing the document is counted (so that the next one keeps its number) and the next is read.
func (s *stream) skipped(err error) bool {
	var e *Error
	if !s.keepGoing || !errors.As(err, &e) {
		return false
	}
	s.errs = append(s.errs, e)
	s.index = max(s.index, e.Index)
	return true
}

// fail wraps a problem with the document being read (the next to be counted) and its line.
func (s *stream) fail(line int, err error) *Error {
	return &Error{Source: s.source, Index: s.index + 1, Line: line, Err: err}
}

func (s *stream) read() error {
	head, err := s.br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return s.fail(s.line, err)
	}
	if bytes.HasPrefix(bytes.TrimLeftFunc(head, unicode.IsSpace), []byte("{")) {
		return s.readJSON()
	}
	return s.readYAML(s.br)
}

// readJSON reads JSON values back to back, with or without space between them. As kubectl's
// decoder does, it reads the rest of the stream as YAML when the first or second value is not JSON
// (a YAML document after one JSON object, or a YAML flow mapping at the start), and fails when a
// later one is not.
func (s *stream) readJSON() error {
	values := 0
	for {
		indent, err := s.skipSpace()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.fail(s.line, err)
		}
		start, col := s.line, s.col
		raw, err := s.frameJSON()
		if err == nil && !json.Valid(raw) {
			err = errNotJSON
		}
		if errors.Is(err, errNotJSON) || errors.Is(err, io.ErrUnexpectedEOF) {
			jerr := s.jsonError(raw, start, values > 1)
			if values > 1 {
				return jerr
			}
			if raw[0] == '{' || raw[0] == '[' {
				s.jsonErr = jerr
			}
			rest := io.MultiReader(bytes.NewReader(append(indent, raw...)), s.br)
			return s.readYAML(bufio.NewReaderSize(rest, 64<<10))
		}
		if err != nil {
			return s.fail(start, err)
		}
		values++
		s.advance(raw)
		if bytes.Equal(raw, []byte("null")) {
			continue // kubectl skips a null value too; it is not a document
		}
		if err := s.jsonDocument(raw, start, col); err != nil && !s.skipped(err) {
			return err
		}
	}
}

// advance moves line and col past raw.
func (s *stream) advance(raw []byte) {
	if i := bytes.LastIndexByte(raw, '\n'); i >= 0 {
		s.line += bytes.Count(raw, []byte("\n"))
		s.col = 1 + utf8.RuneCount(raw[i+1:])
		return
	}
	s.col += utf8.RuneCount(raw)
}

// errNotJSON marks a value that is not valid JSON; jsonError says why, as encoding/json does.
var errNotJSON = errors.New("not JSON")

// jsonError reports raw (the bytes read of a value that is not JSON) with encoding/json's message
// and the line of the offending byte.
func (s *stream) jsonError(raw []byte, start int, jsonOnly bool) error {
	err := json.Unmarshal(raw, new(json.RawMessage))
	line := start + bytes.Count(raw, []byte("\n"))
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset <= int64(len(raw)) {
		line = start + bytes.Count(raw[:syn.Offset], []byte("\n"))
	}
	if err == nil { // the value is JSON, only cut short where the framing stopped
		err = io.ErrUnexpectedEOF
	}
	hint := ""
	if jsonOnly {
		hint = " (after two JSON values the stream is read as JSON only, as kubectl reads it)"
	}
	return s.fail(line, fmt.Errorf("json: %w%s", err, hint))
}

// skipSpace skips JSON white space before the next value. When it skipped a line end, it returns
// the spaces after the last one, so that a value read as YAML after all keeps its indentation
// (kubectl's decoder gives YAML everything after the first line end, or from the first non-space).
func (s *stream) skipSpace() ([]byte, error) {
	var indent []byte
	newline := false
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case '\n':
			s.line++
			s.col = 1
			indent, newline = indent[:0], true
		case ' ', '\t', '\r':
			if len(indent) >= s.lim.document {
				return nil, ErrDocumentTooLarge
			}
			indent = append(indent, c)
			s.col++
		default:
			if !newline {
				indent = nil
			}
			return indent, s.br.UnreadByte()
		}
	}
}

// frameJSON reads one JSON value: up to the bracket that closes it, the quote that ends it, or the
// byte after a number or literal. It checks only what it must to stop early on text that is not
// JSON (a byte that cannot appear outside a string, a control byte inside one, a bracket that does
// not match); json.Valid checks the rest. It never holds more than the document limit.
func (s *stream) frameJSON() ([]byte, error) {
	var (
		buf           []byte
		open          []byte // the brackets not closed yet
		inString, esc bool
		literal       bool // a number, true, false or null at the top level
	)
	for {
		c, err := s.br.ReadByte()
		if errors.Is(err, io.EOF) {
			if literal {
				return buf, nil
			}
			return buf, io.ErrUnexpectedEOF
		}
		if err != nil {
			return buf, err
		}
		if literal && !isLiteralByte(c) {
			return buf, s.br.UnreadByte()
		}
		if len(buf) >= s.lim.document {
			return buf, ErrDocumentTooLarge
		}
		buf = append(buf, c)
		switch {
		case inString:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inString = false
				if len(open) == 0 {
					return buf, nil
				}
			case c < 0x20:
				return buf, errNotJSON
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			open = append(open, c)
		case c == '}' || c == ']':
			if len(open) == 0 || open[len(open)-1] != c-2 { // '{'+2 == '}', '['+2 == ']'
				return buf, errNotJSON
			}
			open = open[:len(open)-1]
			if len(open) == 0 {
				return buf, nil
			}
		case len(open) == 0:
			if !isLiteralByte(c) {
				return buf, errNotJSON
			}
			literal = true
		case c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || isLiteralByte(c):
		default:
			return buf, errNotJSON
		}
	}
}

// isLiteralByte reports whether c can be part of a JSON number, true, false or null.
func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || strings.IndexByte("-+.eEtruefalsn", c) >= 0
}

// readYAML reads YAML documents from br, split as kubectl's YAML reader splits them: at every line
// that starts with "---", which may be followed only by spaces and a comment.
func (s *stream) readYAML(br *bufio.Reader) error {
	for {
		chunk, first, end, err := s.nextChunk(br)
		if err != nil {
			return err
		}
		if content, ok := firstContentLine(chunk); ok {
			if err := s.yamlDocument(chunk, first, first+content, indentColumn(chunk, content)); err != nil && !s.skipped(err) {
				return err
			}
			s.jsonErr = nil
		}
		if end {
			return nil
		}
	}
}

// nextChunk reads the lines of one YAML document. Line ends are normalized to "\n" as kubectl's line
// reader does. first is the line of the chunk's first line; end reports the end of the input.
func (s *stream) nextChunk(br *bufio.Reader) (chunk []byte, first int, end bool, err error) {
	first = s.line
	for {
		lineStart := len(chunk)
		eof := false
		for {
			frag, err := br.ReadSlice('\n')
			if len(chunk)+len(frag) > s.lim.document {
				return nil, 0, false, s.fail(first, ErrDocumentTooLarge)
			}
			chunk = append(chunk, frag...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return nil, 0, false, s.fail(s.line, err)
			}
			break
		}
		line := chunk[lineStart:]
		if eof && len(line) == 0 {
			return chunk, first, true, nil
		}
		if l, ok := bytes.CutSuffix(line, []byte("\n")); ok {
			line, _ = bytes.CutSuffix(l, []byte("\r"))
		}
		chunk = append(chunk[:lineStart+len(line)], '\n')
		s.line++
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			rest = bytes.TrimSpace(rest)
			if len(rest) > 0 && rest[0] != '#' {
				err := s.fail(s.line-1, fmt.Errorf("invalid YAML document separator %q: only a comment may follow ---", line))
				if _, ok := firstContentLine(chunk[:lineStart]); ok {
					err.Index++ // the separator starts the document after the one read so far
				}
				return nil, 0, false, err
			}
			chunk = chunk[:lineStart]
			if len(chunk) > 0 {
				return chunk, first, eof, nil
			}
			first = s.line
		}
		if eof {
			return chunk, first, true, nil
		}
	}
}

// indentColumn is the 1-based column of the first character of chunk's line n that is not a space.
func indentColumn(chunk []byte, n int) int {
	for range n {
		_, chunk, _ = bytes.Cut(chunk, []byte("\n"))
	}
	line, _, _ := bytes.Cut(chunk, []byte("\n"))
	return 1 + len(line) - len(bytes.TrimLeft(line, " \t"))
}

// firstContentLine returns the 0-based line of chunk's first line that is neither blank nor a
// comment, and false when there is none (an empty document, which is skipped and not counted).
func firstContentLine(chunk []byte) (int, bool) {
	for n := 0; len(chunk) > 0; n++ {
		line, rest, _ := bytes.Cut(chunk, []byte("\n"))
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return n, true
		}
		chunk = rest
	}
	return 0, false
}
