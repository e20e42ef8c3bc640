package manifest

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// duplicate is a repeated key in a JSON value: the offset just after it, the key, and the path of
// the object holding it.
type duplicate struct {
	offset int64
	key    string
	path   string
}

// jsonDuplicates lists the keys that an object of valid JSON value js repeats, in order. Names are
// compared after unescaping, as a decoder compares them ("\u0069mage" repeats "image").
func jsonDuplicates(js []byte) []duplicate {
	dec := jsontext.NewDecoder(bytes.NewReader(js), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	type frame struct {
		names map[string]struct{} // nil for an array
		name  string              // the member being read
	}
	var (
		stack []frame
		dups  []duplicate
	)
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return dups // the end, or a value encoding/json accepted and jsontext does not: no more to find
		}
		switch tok.Kind() {
		case '{':
			stack = append(stack, frame{names: map[string]struct{}{}})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case '"':
			depth := dec.StackDepth()
			if kind, n := dec.StackIndex(depth); kind != '{' || n%2 == 0 {
				continue // a value, not a name
			}
			top := &stack[len(stack)-1]
			top.name = tok.String()
			if _, seen := top.names[top.name]; !seen {
				top.names[top.name] = struct{}{}
				continue
			}
			// The path of the object holding the key: a name for each enclosing object and an
			// index for each enclosing array, as in "spec.containers[0]".
			var p strings.Builder
			for i, f := range stack[:len(stack)-1] {
				if kind, n := dec.StackIndex(i + 1); kind == '[' {
					p.WriteString("[" + strconv.FormatInt(n-1, 10) + "]")
					continue
				}
				if p.Len() > 0 {
					p.WriteByte('.')
				}
				p.WriteString(f.name)
			}
			dups = append(dups, duplicate{offset: dec.InputOffset(), key: top.name, path: p.String()})
		}
	}
}
