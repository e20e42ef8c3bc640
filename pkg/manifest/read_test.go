package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// obj is a one-line JSON object of kind k, the unit of the streams below.
func obj(k string) string { return fmt.Sprintf(`{"apiVersion":"v1","kind":%q}`, k) }

// got is what a test compares: one "index.item@line kind" per document.
func got(docs []Document) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, fmt.Sprintf("%d.%d@%d %s", d.Index, d.Item, d.Line, d.Kind))
	}
	return out
}

// TestReadStreams: every object of a stream is read, whatever tool printed it. Before this reader,
// everything after the first JSON object of a stream was dropped.
func TestReadStreams(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"jq -c: one object per line", obj("A") + "\n" + obj("B") + "\n" + obj("C") + "\n",
			[]string{"1.0@1 A", "2.0@2 B", "3.0@3 C"}},
		{"no space between objects", obj("A") + obj("B") + obj("C"),
			[]string{"1.0@1 A", "2.0@1 B", "3.0@1 C"}},
		{"jq .: indented objects back to back", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"A\"\n}\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"B\"\n}\n",
			[]string{"1.0@1 A", "2.0@5 B"}},
		{"spaces, tabs and CRLF between objects", "  \r\n\t" + obj("A") + " \t\r\n\r\n" + obj("B"),
			[]string{"1.0@2 A", "2.0@4 B"}},
		{"null values are skipped and not counted", obj("A") + " null\nnull " + obj("B"),
			[]string{"1.0@1 A", "2.0@2 B"}},
		{"JSON List", `{"apiVersion":"v1","kind":"List","items":[` + obj("A") + "," + obj("B") + "]}\n" + obj("C"),
			[]string{"1.1@1 A", "1.2@1 B", "2.0@2 C"}},
		{"empty List", `{"apiVersion":"v1","kind":"PodList","items":[]}`, []string{}},
		{"a List without items is an object", `{"apiVersion":"v1","kind":"List"}`, []string{"1.0@1 List"}},
		{"YAML documents", "# head\napiVersion: v1\nkind: A\n---\n\n---\n# only a comment\n--- # separator comment\napiVersion: v1\nkind: B\n...\n---\n~\n---\napiVersion: v1\nkind: C",
			[]string{"1.0@2 A", "2.0@9 B", "3.0@15 C"}},
		{"YAML with CRLF line ends", "apiVersion: v1\r\nkind: A\r\n---\r\napiVersion: v1\r\nkind: B\r\n",
			[]string{"1.0@1 A", "2.0@4 B"}},
		{"YAML List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n- {apiVersion: v1, kind: B}\n",
			[]string{"1.1@1 A", "1.2@1 B"}},
		{"JSON documents separated by ---", "---\n" + obj("A") + "\n---\n" + obj("B") + "\n",
			[]string{"1.0@2 A", "2.0@4 B"}},
		// kubectl's decoder reads the rest as YAML when the first or second value is not JSON.
		{"JSON, then --- and YAML", obj("A") + "\n---\napiVersion: v1\nkind: B\n---\napiVersion: v1\nkind: C\n",
			[]string{"1.0@1 A", "2.0@3 B", "3.0@6 C"}},
		{"JSON, then YAML without a separator", obj("A") + "\napiVersion: v1\nkind: B\n",
			[]string{"1.0@1 A", "2.0@2 B"}},
		{"JSON, then an indented YAML flow mapping", obj("A") + "\n  {apiVersion: v1,\n   kind: B}\n",
			[]string{"1.0@1 A", "2.0@2 B"}},
		{"a YAML flow mapping first", "{apiVersion: v1, kind: A}\n---\n" + obj("B"),
			[]string{"1.0@1 A", "2.0@3 B"}},
		{"YAML starting with a comment, JSON documents inside", "# generated\n" + obj("A") + "\n---\n" + obj("B"),
			[]string{"1.0@2 A", "2.0@4 B"}},
		{"nothing", "", []string{}},
		{"only space", " \n\t\n", []string{}},
		{"only separators and comments", "---\n# x\n---\n", []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, warns, err := Read("in", strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got(docs)); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
		})
	}
}

// TestReadErrors: what cannot be read fails with the file, the document and the line; nothing is
// dropped, including what kubectl itself would drop (JSON objects after a comment line, a second
// YAML document after "...").
func TestReadErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // the whole error
	}{
		{"bad second object", obj("A") + "\n{\"apiVersion\": \"v1\",\n \"kind\": \"B\",,}\n",
			`in: document 2: line 3: json: invalid character ',' looking for beginning of object key string`},
		{"bad third object", obj("A") + obj("B") + "\n\n{\"kind\": x}",
			`in: document 3: line 3: json: invalid character 'x' looking for beginning of value (after two JSON values the stream is read as JSON only, as kubectl reads it)`},
		{"--- after two JSON objects", obj("A") + "\n" + obj("B") + "\n---\n" + obj("C"),
			`in: document 3: line 3: json: invalid character '-' in numeric literal (after two JSON values the stream is read as JSON only, as kubectl reads it)`},
		{"cut short", obj("A") + "\n" + obj("B") + "\n{\"apiVersion\": \"v1\",\n",
			`in: document 3: line 4: json: unexpected end of JSON input (after two JSON values the stream is read as JSON only, as kubectl reads it)`},
		{"second object cut short", obj("A") + "\n{\"apiVersion\":\n\"v1\"",
			`in: document 2: line 3: json: unexpected end of JSON input`},
		{"objects after a comment line", "# generated\n" + obj("A") + obj("B"),
			`in: document 1: line 2: more than one YAML document or object in one document: separate them with a line "---"`},
		{"a second YAML document after ...", "apiVersion: v1\nkind: A\n...\napiVersion: v1\nkind: B\n",
			`in: document 1: line 3: more than one YAML document or object in one document: separate them with a line "---"`},
		{"YAML error in document 2", "apiVersion: v1\nkind: A\n---\n# c\napiVersion: v1\nkind: B\nspec: [\n",
			`in: document 2: line 7: yaml: did not find expected node content`},
		{"YAML error with a line inside", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n  bad: indent\n",
			`in: document 2: line 6: yaml: mapping values are not allowed in this context`},
		{"bad separator", "apiVersion: v1\nkind: A\n--- !x\napiVersion: v1\nkind: B\n",
			`in: document 2: line 3: invalid YAML document separator "--- !x": only a comment may follow ---`},
		{"JSON array", "[" + obj("A") + "," + obj("B") + "]",
			`in: document 1: line 1: not a Kubernetes object: the document is a list, not an object (kubectl does not read one either); write the objects one after another, or as the items of a List`},
		{"JSON array after an object", obj("A") + "\n[" + obj("B") + "]",
			`in: document 2: line 2: not a Kubernetes object: the document is a list, not an object (kubectl does not read one either); write the objects one after another, or as the items of a List`},
		{"a number after an object", obj("A") + " 5",
			`in: document 2: line 1: not a Kubernetes object: the document is a number, not an object`},
		{"a string", `"x"`, `in: document 1: line 1: not a Kubernetes object: the document is a string, not an object`},
		{"no kind", "apiVersion: v1\nmetadata: {}\n", `in: document 1: line 1: not a Kubernetes object: apiVersion and kind are required`},
		// sigs.k8s.io/yaml would keep one of the two at random (a fuzzer found it): no one meaning.
		{"two YAML keys that are one JSON key", "apiVersion: v1\nkind: A\nmetadata:\n  labels:\n    8: a\n    \"8\": b\n",
			`in: document 1: line 1: the keys "8" and 8 of one mapping are both the JSON key "8", and kubectl keeps one of them at random: write the key once`},
		{"List item without kind", "---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1}]\n",
			`in: document 1, item 1: line 2: not a Kubernetes object: apiVersion and kind are required`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, _, err := Read("in", strings.NewReader(c.in))
			if err == nil {
				t.Fatalf("read %v, want an error", got(docs))
			}
			if docs != nil {
				t.Errorf("documents returned with an error: %v", got(docs))
			}
			if err.Error() != c.want {
				t.Errorf("error\n got: %s\nwant: %s", err, c.want)
			}
			var rerr *Error
			if !errors.As(err, &rerr) || rerr.Source != "in" || rerr.Index < 1 || rerr.Line < 1 {
				t.Errorf("error %#v is not an *Error with a source, document and line", err)
			}
		})
	}
}

// TestReadDuplicateKeys: a repeated key is read as the API server reads it (the last value wins)
// and reported with the document, the line and the key.
func TestReadDuplicateKeys(t *testing.T) {
	cases := []struct {
		name, in string
		json     string   // of the one document
		warnings []string // Warning.String()
	}{
		{"YAML", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    securityContext:\n      privileged: false\n      privileged: true\n",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","securityContext":{"privileged":true}}]}}`,
			[]string{`in: document 1: line 9: duplicate key "privileged"; the last value is used, as the API server reads it`}},
		{"YAML, second document", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nkind: C\n",
			`{"apiVersion":"v1","kind":"C"}`,
			[]string{`in: document 2: line 6: duplicate key "kind"; the last value is used, as the API server reads it`}},
		{"JSON", obj("A") + "\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\n\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"good\",\n\"\\u0069mage\":\"evil\"}]}}",
			`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"image":"evil","name":"a"}]}}`,
			[]string{`in: document 2: line 4: duplicate key "image" in spec.containers[0]; the last value is used, as the API server reads it`}},
		{"many keys", "apiVersion: v1\nkind: A\na: 1\na: 2\nb: 1\nb: 2\nc: 1\nc: 2\nd: 1\nd: 2\ne: 1\ne: 2\nf: 1\nf: 2\ng: 1\ng: 2\n",
			`{"a":2,"apiVersion":"v1","b":2,"c":2,"d":2,"e":2,"f":2,"g":2,"kind":"A"}`,
			[]string{
				`in: document 1: line 4: duplicate key "a"; the last value is used, as the API server reads it`,
				`in: document 1: line 6: duplicate key "b"; the last value is used, as the API server reads it`,
				`in: document 1: line 8: duplicate key "c"; the last value is used, as the API server reads it`,
				`in: document 1: line 10: duplicate key "d"; the last value is used, as the API server reads it`,
				`in: document 1: line 12: duplicate key "e" (and 2 more duplicate keys in this document); the last value is used, as the API server reads it`,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, warns, err := Read("in", strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(docs[len(docs)-1].JSON); got != c.json {
				t.Errorf("JSON\n got: %s\nwant: %s", got, c.json)
			}
			var ws []string
			for _, w := range warns {
				ws = append(ws, w.String())
			}
			if diff := cmp.Diff(c.warnings, ws); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadYAMLAsKubectl: a YAML document reads as sigs.k8s.io/yaml, which kubectl uses, converts
// it: keys of every YAML type written as strings, YAML 1.1 booleans, anchors and merges, and the
// last value of a repeated key.
func TestReadYAMLAsKubectl(t *testing.T) {
	for _, in := range []string{
		"apiVersion: v1\nkind: A\nmetadata: {labels: {a: yes, b: no, c: on, d: '1', e: 1.50, f: 0x1F, g: 017, h: ~}}\n",
		"apiVersion: v1\nkind: A\ndata: {1: a, 2.5: b, true: c, 1e3: d, .inf: e, -.inf: f, .nan: g, 9223372036854775807: h}\n",
		"apiVersion: v1\nkind: A\nbase: &b {x: 1, y: [1, 2]}\nmerged: {<<: *b, y: 3}\nlist: [*b, *b]\n",
		"apiVersion: v1\nkind: A\nspec: {x: 1, x: 2, y: {z: a, z: b}}\nspec: {x: 3}\n",
		"apiVersion: v1\nkind: A\ntext: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\nwhen: 2026-11-30T12:00:00Z\nbin: !!binary aGVsbG8=\n",
	} {
		docs, _, err := Read("in", strings.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		want, err := yaml.YAMLToJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 1 || !jsonEqual(docs[0].JSON, want) {
			t.Errorf("%q:\n read %s\n want %s", in, docs[0].JSON, want)
		}
	}
}
