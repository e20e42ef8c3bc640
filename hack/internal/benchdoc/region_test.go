package benchdoc

import (
	"strings"
	"testing"
)

func TestReplace(t *testing.T) {
	r := Region{Begin: "<!-- x:begin -->", End: "<!-- x:end -->", Heading: "## X"}
	text := r.Begin + "\nnew figures\n" + r.End + "\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"no region: appended under the heading", "# Performance\n\ntext\n",
			"# Performance\n\ntext\n\n## X\n\n" + r.Begin + "\nnew figures\n" + r.End + "\n"},
		{"empty file", "", "## X\n\n" + r.Begin + "\nnew figures\n" + r.End + "\n"},
		{"region replaced, the rest kept", "# P\n\n## X\n\n" + r.Begin + "\nold\nfigures\n" + r.End + "\n\n## After\n",
			"# P\n\n## X\n\n" + r.Begin + "\nnew figures\n" + r.End + "\n\n## After\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Replace(tc.doc, text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// Writing the same region again changes nothing.
			again, err := r.Replace(got, text)
			if err != nil || again != got {
				t.Errorf("second write: %v\n%s", err, again)
			}
		})
	}
	for _, doc := range []string{
		r.End + "\n" + r.Begin + "\n",
		r.Begin + "\nno end\n",
		r.Begin + r.End + r.Begin + r.End,
	} {
		if _, err := r.Replace(doc, text); err == nil || !strings.Contains(err.Error(), "want one") {
			t.Errorf("%q: error %v, want a complaint about the markers", doc, err)
		}
	}
}
