package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	kjson "sigs.k8s.io/json"
)

// maxWarningsPerDocument bounds the warnings of one document; the last one counts the rest.
const maxWarningsPerDocument = 5

// yamlDocument converts one YAML document to JSON as kubectl does (sigs.k8s.io/yaml's YAMLToJSON:
// yaml.v2, the last of repeated keys winning, keys written as strings), after checking what that
// conversion lets through silently: yaml.v2 reads only the first YAML document of its input, so
// `{...}{...}` or a second document after "..." would be dropped; aliases can expand a small
// document into gigabytes of JSON; and two keys can become one JSON key. The document is parsed
// once, strictly, which names every repeated key with its line; a strict parse keeps the first value
// of a repeated key, so only a document that has one is parsed again, leniently, for the last.
func (s *stream) yamlDocument(chunk []byte, first, line, col int) error {
	// yaml.v2 can name the line after the last, for a value missing at the end.
	last := first + bytes.Count(chunk, []byte("\n")) - 1
	dec := yamlv2.NewDecoder(bytes.NewReader(chunk))
	dec.SetStrict(true)
	var (
		tree  any
		warns []Warning
	)
	if err := dec.Decode(&tree); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // only markers such as "...": an empty document
		}
		var ok bool
		if warns, ok = s.yamlDuplicates(err, first, last); !ok {
			return s.yamlFail(err, first, line, last)
		}
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		// yaml.v2 names the line before the second document, or none.
		at := line
		var dup *yamlv2.TypeError
		if err != nil && !errors.As(err, &dup) {
			at = max(yamlErrorLine(err, first, line, last), line)
		}
		if s.jsonErr != nil {
			return s.jsonErr
		}
		return s.fail(at, errors.New(`more than one YAML document or object in one document: separate them with a line "---"`))
	}
	if len(warns) > 0 {
		tree = nil
		if err := yamlv2.Unmarshal(chunk, &tree); err != nil {
			return s.yamlFail(err, first, line, last)
		}
	}
	if jsonSize(tree, s.lim.document) > s.lim.document {
		return s.fail(line, fmt.Errorf("%w once YAML aliases are expanded", ErrDocumentTooLarge))
	}
	obj, err := jsonValue(tree)
	if err != nil {
		return s.fail(line, err)
	}
	js, err := json.Marshal(obj)
	if err != nil {
		return s.fail(line, fmt.Errorf("yaml: %w", err))
	}
	if len(js) > s.lim.document {
		return s.fail(line, fmt.Errorf("%w as JSON", ErrDocumentTooLarge))
	}
	return s.add(js, line, col, warns)
}

// yamlFail reports a YAML error with the line numbers of the file, not of the document (whose
// lines are first to last).
func (s *stream) yamlFail(err error, first, line, last int) error {
	if s.jsonErr != nil {
		return s.jsonErr
	}
	at := yamlErrorLine(err, first, line, last)
	msg := yamlLineRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
		prefix, n, _ := strings.Cut(m, "line ")
		rel, _ := strconv.Atoi(n)
		return prefix + "line " + strconv.Itoa(min(first+rel-1, last))
	})
	msg = strings.Replace(msg, fmt.Sprintf("yaml: line %d: ", at), "yaml: ", 1)
	return s.fail(at, &yamlError{msg: msg, err: err})
}

// yamlLineRE finds the line numbers yaml.v2 puts in its errors: "yaml: line 3: ..." and, one per
// line, "  line 3: ..." in a list of unmarshal errors.
var yamlLineRE = regexp.MustCompile(`(?m)(^yaml: |^  )line [0-9]+`)

// yamlErrorLine is the file line of the first line a YAML error names, or line.
func yamlErrorLine(err error, first, line, last int) int {
	m := yamlLineRE.FindString(err.Error())
	if _, n, ok := strings.Cut(m, "line "); ok {
		if rel, err := strconv.Atoi(n); err == nil {
			return min(first+rel-1, last)
		}
	}
	return line
}

// yamlError is a YAML error whose text names lines of the file.
type yamlError struct {
	msg string
	err error
}

func (e *yamlError) Error() string { return e.msg }
func (e *yamlError) Unwrap() error { return e.err }

// yamlDupRE is how yaml.v2's strict mode reports a repeated key.
var yamlDupRE = regexp.MustCompile(`^line ([0-9]+): key (.+) already set in map$`)

// yamlDuplicates turns a strict-mode error that lists only repeated keys into warnings, and reports
// false for any other error.
func (s *stream) yamlDuplicates(err error, first, last int) ([]Warning, bool) {
	list, ok := strings.CutPrefix(err.Error(), "yaml: unmarshal errors:\n")
	if !ok {
		return nil, false
	}
	var warns []Warning
	for l := range strings.SplitSeq(list, "\n") {
		m := yamlDupRE.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			return nil, false
		}
		rel, _ := strconv.Atoi(m[1])
		key := m[2]
		if k, err := strconv.Unquote(key); err == nil {
			key = k
		}
		warns = append(warns, Warning{Line: min(first+rel-1, last), Key: key})
	}
	return warns, true
}

// jsonDocument takes one JSON value as it was written, resolving repeated keys to their last value
// (as the API server and pkg/workload read them) so that no reader of Document.JSON sees them.
func (s *stream) jsonDocument(raw []byte, line, col int) error {
	dups := jsonDuplicates(raw)
	if len(dups) == 0 {
		return s.add(raw, line, col, nil)
	}
	warns := make([]Warning, len(dups))
	for i, d := range dups {
		warns[i] = Warning{Line: line + bytes.Count(raw[:d.offset], []byte("\n")), Key: d.key, Path: d.path}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text
	if err := dec.Decode(&v); err != nil {
		return s.fail(line, fmt.Errorf("json: %w", err))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return s.fail(line, fmt.Errorf("json: %w", err))
	}
	js := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(js) > s.lim.document {
		return s.fail(line, fmt.Errorf("%w as JSON", ErrDocumentTooLarge))
	}
	return s.add(js, line, col, warns)
}

type header struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// add counts one document and keeps its objects: the document itself, or the items of a List. A
// null document is not counted, as kubectl skips it.
func (s *stream) add(js []byte, line, col int, warns []Warning) error {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil
	}
	var h header
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		return s.fail(line, fmt.Errorf("not a Kubernetes object: %w", notObject(js, err)))
	}
	if h.Kind == "" || h.APIVersion == "" {
		return s.fail(line, errors.New("not a Kubernetes object: apiVersion and kind are required"))
	}
	index := s.index + 1
	if !strings.HasSuffix(h.Kind, "List") || h.Items == nil {
		s.docs = append(s.docs, Document{Source: s.source, Index: index, Line: line, Column: col, APIVersion: h.APIVersion, Kind: h.Kind, JSON: js})
	} else {
		docs := make([]Document, 0, len(h.Items))
		for i, item := range h.Items {
			var ih header
			if err := kjson.UnmarshalCaseSensitivePreserveInts(item, &ih); err != nil || ih.Kind == "" || ih.APIVersion == "" {
				return &Error{Source: s.source, Index: index, Item: i + 1, Line: line,
					Err: errors.New("not a Kubernetes object: apiVersion and kind are required")}
			}
			docs = append(docs, Document{Source: s.source, Index: index, Item: i + 1, Line: line, Column: col, APIVersion: ih.APIVersion, Kind: ih.Kind, JSON: item})
		}
		s.docs = append(s.docs, docs...)
	}
	s.index = index
	for i, w := range warns {
		if i == maxWarningsPerDocument-1 && len(warns) > maxWarningsPerDocument {
			w.More = len(warns) - i - 1
		}
		w.Source, w.Index = s.source, index
		s.warns = append(s.warns, w)
		if w.More > 0 {
			break
		}
	}
	return nil
}

// notObject says what a document that is not an object is instead.
func notObject(js []byte, err error) error {
	t := bytes.TrimSpace(js)
	if len(t) == 0 {
		return err
	}
	switch c := t[0]; {
	case c == '[':
		return errors.New("the document is a list, not an object (kubectl does not read one either); write the objects one after another, or as the items of a List")
	case c == '"':
		return errors.New("the document is a string, not an object")
	case c == 't' || c == 'f':
		return errors.New("the document is a boolean, not an object")
	case c == '-' || c >= '0' && c <= '9':
		return errors.New("the document is a number, not an object")
	}
	return err
}

// jsonSize is at most the size of v written as JSON, counted until it passes budget: enough to
// refuse a document whose aliases expand it, before its JSON is written out.
func jsonSize(v any, budget int) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		if n > budget {
			return
		}
		switch v := v.(type) {
		case map[any]any:
			n += 2
			for k, e := range v {
				if s, ok := k.(string); ok {
					n += len(s)
				}
				n += 3
				walk(e)
			}
		case []any:
			n += 2
			for _, e := range v {
				n++
				walk(e)
			}
		case string:
			n += len(v) + 2
		default:
			n++
		}
	}
	walk(v)
	return n
}

// jsonValue turns what yaml.v2 decoded into what encoding/json writes, as sigs.k8s.io/yaml's
// YAMLToJSON does (its convertToJSONableObject without a target type): mapping keys become strings,
// everything else stays. Unlike it, two distinct YAML keys that become one JSON key (8 and "8", 010
// and 8, true and "true") are an error: YAMLToJSON, and so kubectl, keeps one of them chosen by Go's
// map order, at random, so such a document has no one meaning, and it is refused rather than read one
// way here and another way by the cluster. It runs after jsonSize, so it walks a bounded tree.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(v))
		keys := make(map[string]any, len(v))
		for k, e := range v {
			js, err := jsonKey(k)
			if err != nil {
				return nil, err
			}
			if other, dup := keys[js]; dup {
				a, b := fmt.Sprintf("%#v", other), fmt.Sprintf("%#v", k)
				if a > b {
					a, b = b, a
				}
				return nil, fmt.Errorf("the keys %s and %s of one mapping are both the JSON key %q, and kubectl keeps one "+
					"of them at random: write the key once", a, b, js)
			}
			keys[js] = k
			if out[js], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// jsonKey is the JSON name sigs.k8s.io/yaml gives a YAML key, or its error for a key it refuses.
func jsonKey(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case int:
		return strconv.Itoa(k), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case float64:
		switch s := strconv.FormatFloat(k, 'g', -1, 32); s {
		case "+Inf":
			return ".inf", nil
		case "-Inf":
			return "-.inf", nil
		case "NaN":
			return ".nan", nil
		default:
			return s, nil
		}
	case bool:
		return strconv.FormatBool(k), nil
	}
	return "", fmt.Errorf("yaml: unsupported map key of type %T, key %#v: JSON keys are strings", k, k)
}
