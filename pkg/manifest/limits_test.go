package manifest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// zeros is /dev/zero: endless NUL bytes, no line end, no document end.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// repeat is an endless stream of s.
type repeat struct {
	s   string
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.s[r.off]
		r.off = (r.off + 1) % len(r.s)
	}
	return len(p), nil
}

// readWithin runs read and fails the test if it has not returned after a generous while: a reader
// without bounds never returns on these inputs. It asserts no timing, only that reading stops.
func readWithin(t *testing.T, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("reading did not stop: the input is read without bound")
		return nil
	}
}

// TestReadDocumentLimit: a document past MaxDocumentBytes fails with the size error, as soon as the
// reader holds that much of it, whether or not the input has line ends or an end.
func TestReadDocumentLimit(t *testing.T) {
	big := strings.Repeat("x", 9<<20)
	// An alias of a 1 MiB string, 10 times: a 1 MiB document that is 10 MiB of JSON.
	bomb := "apiVersion: v1\nkind: ConfigMap\nx: &x " + strings.Repeat("y", 1<<20) + "\ndata: [" + strings.Repeat("*x, ", 9) + "*x]\n"
	cases := []struct {
		name string
		in   func() io.Reader
		want string
	}{
		{"/dev/zero", func() io.Reader { return zeros{} }, "in: document 1: line 1: larger than 8 MiB, the limit for one document"},
		{"a 9 MiB line", func() io.Reader {
			return strings.NewReader("apiVersion: v1\nkind: ConfigMap\ndata: {a: " + big + "}\n")
		},
			"in: document 1: line 1: larger than 8 MiB, the limit for one document"},
		{"a 9 MiB JSON object", func() io.Reader {
			return strings.NewReader(obj("A") + "\n" + `{"apiVersion":"v1","kind":"ConfigMap","data":{"a":"` + big + `"}}`)
		}, "in: document 2: line 2: larger than 8 MiB, the limit for one document"},
		{"an endless JSON object", func() io.Reader { return io.MultiReader(strings.NewReader(`{"a":[`), &repeat{s: "1,"}) },
			"in: document 1: line 1: larger than 8 MiB, the limit for one document"},
		{"endless space inside an object", func() io.Reader { return io.MultiReader(strings.NewReader("{"), &repeat{s: " \n"}) },
			"in: document 1: line 1: larger than 8 MiB, the limit for one document"},
		{"endless lines of a YAML document", func() io.Reader { return io.MultiReader(strings.NewReader("---\n"), &repeat{s: "a: b\n"}) },
			"in: document 1: line 2: larger than 8 MiB, the limit for one document"},
		{"YAML aliases", func() io.Reader { return strings.NewReader(bomb) },
			"in: document 1: line 1: larger than 8 MiB, the limit for one document once YAML aliases are expanded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := readWithin(t, func() error {
				_, _, err := Read("in", c.in())
				return err
			})
			if !errors.Is(err, ErrDocumentTooLarge) || err.Error() != c.want {
				t.Errorf("error\n got: %v\nwant: %s", err, c.want)
			}
		})
	}
}

// TestReadInputLimit: a file or stream past the input limit fails, even when it is only empty
// documents or space, and never ends as if the input ended there. The limits are shrunk so that the
// test reads kilobytes, not MaxInputBytes.
func TestReadInputLimit(t *testing.T) {
	lim := limits{document: 1 << 10, input: 8 << 10}
	read := func(r io.Reader) ([]Document, error) {
		s := newStream("in", r, lim)
		err := readWithin(t, s.read)
		return s.docs, err
	}
	for name, r := range map[string]func() io.Reader{
		"endless ---": func() io.Reader { return &repeat{s: "---\n"} },
		"endless empty lines": func() io.Reader {
			return io.MultiReader(strings.NewReader("apiVersion: v1\nkind: A\n---\n"), &repeat{s: "# x\n---\n"})
		},
		"endless JSON objects":         func() io.Reader { return &repeat{s: obj("A") + "\n"} },
		"endless space between values": func() io.Reader { return io.MultiReader(strings.NewReader(obj("A")), &repeat{s: " \n"}) },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := read(r()); !errors.Is(err, ErrInputTooLarge) {
				t.Errorf("error %v, want ErrInputTooLarge", err)
			}
		})
	}
	// At the limit exactly, everything is read.
	in := strings.Repeat(obj("A")+"\n", 256)
	in += strings.Repeat(" ", int(lim.input)-len(in))
	docs, err := read(strings.NewReader(in))
	if err != nil || len(docs) != 256 {
		t.Errorf("an input of exactly the limit: %d documents, error %v", len(docs), err)
	}
	if _, err := read(strings.NewReader(in + " ")); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("one byte past the limit: error %v, want ErrInputTooLarge", err)
	}
}
