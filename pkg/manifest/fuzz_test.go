package manifest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzRead (run by `make fuzz`): the reader never panics; when it succeeds it has read the whole
// input (nothing is dropped), and it returns no more than it read: each document is a JSON object
// with the apiVersion and kind it reports, under the document limit, numbered in order with lines
// inside the input; a JSON document without repeated keys is the very bytes read; and reading one
// byte at a time gives the same result.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"", "---\n", obj("A") + obj("B"), obj("A") + "\n" + obj("B") + "\n---\n" + obj("C"),
		obj("A") + "\nkind: B\napiVersion: v1\n", "# c\n" + obj("A") + obj("B"),
		"apiVersion: v1\nkind: A\n...\napiVersion: v1\nkind: B\n", "{apiVersion: v1, kind: A}",
		`{"apiVersion":"v1","kind":"List","items":[` + obj("A") + "," + obj("B") + "]} null 5 [1]",
		"apiVersion: v1\nkind: A\nkind: B\nx: &x y\nz: [*x, *x]\n", `{"apiVersion":"v1","kind":"A","kind":"B"}`,
		"apiVersion: v1\r\nkind: A\r\n--- # x\r\n", "apiVersion: v1\nkind: A\n--- x\n",
	} {
		f.Add([]byte(s))
	}
	for _, pattern := range []string{"../../examples/workloads/*.yaml", "../policy/testdata/*/*.yaml", "../policy/testdata/*/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countingReader{r: bytes.NewReader(data)}
		docs, warns, err := Read("in", cr)
		slow, slowWarns, slowErr := Read("in", iotest.OneByteReader(bytes.NewReader(data)))
		if (err == nil) != (slowErr == nil) || err != nil && err.Error() != slowErr.Error() {
			t.Fatalf("reading at once: %v; one byte at a time: %v", err, slowErr)
		}
		if diff := cmp.Diff(docs, slow); diff != "" {
			t.Fatalf("reading one byte at a time differs (-at once +by byte):\n%s", diff)
		}
		if diff := cmp.Diff(warns, slowWarns); diff != "" {
			t.Fatalf("warnings differ (-at once +by byte):\n%s", diff)
		}
		if err != nil {
			if docs != nil || warns != nil {
				t.Fatalf("documents or warnings returned with error %v", err)
			}
			return
		}
		if cr.n != len(data) {
			t.Fatalf("succeeded after reading %d of %d bytes", cr.n, len(data))
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		index, item, line := 0, 0, 1
		for _, d := range docs {
			switch {
			case d.Index > index && d.Item <= 1: // an empty List is counted but has no objects
			case d.Index == index && item > 0 && d.Item == item+1:
			default:
				t.Fatalf("document %d item %d follows document %d item %d", d.Index, d.Item, index, item)
			}
			if d.Line < line || d.Line > lines {
				t.Fatalf("document %d at line %d: after line %d, the input has %d", d.Index, d.Line, line, lines)
			}
			index, item, line = d.Index, d.Item, d.Line
			if len(d.JSON) > MaxDocumentBytes {
				t.Fatalf("document %d has %d bytes of JSON", d.Index, len(d.JSON))
			}
			var h struct {
				APIVersion, Kind string
			}
			if err := json.Unmarshal(d.JSON, &h); err != nil || h.APIVersion != d.APIVersion || h.Kind != d.Kind {
				t.Fatalf("document %d: %s: %v, reported %s %s", d.Index, d.JSON, err, d.APIVersion, d.Kind)
			}
			if json.Valid(data) && len(warns) == 0 && !bytes.Contains(data, d.JSON) {
				t.Fatalf("document %d is not the bytes read: %s", d.Index, d.JSON)
			}
		}
		for _, w := range warns {
			if w.Index < 1 || w.Line < 1 || w.Line > lines {
				t.Fatalf("warning %v outside the documents read", w)
			}
		}
		// One YAML document that is not a List reads as sigs.k8s.io/yaml, and so kubectl, converts it.
		// kubectl's line reader ends every line with "\n" (a last line without one too, which matters to
		// block scalars), so inputs whose lines all end so are compared as they are.
		if len(docs) == 1 && docs[0].Item == 0 && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) &&
			bytes.HasSuffix(data, []byte("\n")) && !bytes.Contains(data, []byte("\r")) &&
			!bytes.Contains(data, []byte("\n---")) && !bytes.HasPrefix(data, []byte("---")) {
			want, err := yaml.YAMLToJSON(data)
			if err != nil {
				t.Fatalf("read %s, but sigs.k8s.io/yaml fails: %v", docs[0].JSON, err)
			}
			if !jsonEqual(docs[0].JSON, want) {
				t.Fatalf("read %s, sigs.k8s.io/yaml converts it to %s", docs[0].JSON, want)
			}
		}
	})
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}
