package main

import (
	"strings"
	"testing"
)

func TestReplaceRegion(t *testing.T) {
	region := regionBegin + "\nnew figures\n" + regionEnd + "\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"no region: appended under the heading", "# Performance\n\ntext\n",
			"# Performance\n\ntext\n\n## Audit at scale\n\n" + regionBegin + "\nnew figures\n" + regionEnd + "\n"},
		{"empty file", "", "## Audit at scale\n\n" + regionBegin + "\nnew figures\n" + regionEnd + "\n"},
		{"region replaced, the rest kept", "# P\n\n## Audit at scale\n\n" + regionBegin + "\nold\nfigures\n" + regionEnd + "\n\n## After\n",
			"# P\n\n## Audit at scale\n\n" + regionBegin + "\nnew figures\n" + regionEnd + "\n\n## After\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceRegion(tc.doc, region)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// Writing the same region again changes nothing.
			again, err := replaceRegion(got, region)
			if err != nil || again != got {
				t.Errorf("second write: %v\n%s", err, again)
			}
		})
	}
	for _, doc := range []string{
		regionEnd + "\n" + regionBegin + "\n",
		regionBegin + "\nno end\n",
		regionBegin + regionEnd + regionBegin + regionEnd,
	} {
		if _, err := replaceRegion(doc, region); err == nil || !strings.Contains(err.Error(), "want one") {
			t.Errorf("%q: error %v, want a complaint about the markers", doc, err)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10040: "10,040", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
