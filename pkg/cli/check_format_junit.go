package cli

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// JUnit XML as GitLab, Jenkins and Azure read it: one testsuite per input file, one testcase per
// object, and a failure on each object that fails the run (denied, or with a violation at the
// --fail-on level); the other violations are in the testcase's system-out.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitFailure `xml:"failure"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// failing reports whether a violation fails the run at the --fail-on level.
func failing(m v1alpha1.Mode, excepted string, failOn string) bool {
	if excepted != "" {
		return false
	}
	switch m {
	case v1alpha1.ModeEnforce:
		return true
	case v1alpha1.ModeWarn:
		return failOn != "enforce"
	}
	return failOn == "audit"
}

func (r *report) junit(failOn string) *junitSuites {
	out := &junitSuites{Name: "sealgate check"}
	suites := map[string]int{}
	for i := range r.Results {
		res := &r.Results[i]
		si, ok := suites[res.File]
		if !ok {
			si = len(out.Suites)
			suites[res.File] = si
			out.Suites = append(out.Suites, junitSuite{Name: res.File})
		}
		s := &out.Suites[si]
		tc := junitCase{Name: fmt.Sprintf("%s %s/%s", res.Kind, res.Namespace, res.Name), Classname: res.File, File: res.File, Line: res.Line}
		var failed, other []string
		count := 0
		for _, v := range res.Violations {
			line := fmt.Sprintf("%s %s", strings.TrimSpace(label(&v)), v.String())
			if failing(v.Mode, v.Excepted, failOn) {
				failed = append(failed, line)
				count++
			} else {
				other = append(other, line)
			}
		}
		for _, o := range res.omissions {
			line := fmt.Sprintf("%d more %s of %s/%s (%s), not listed", o.Count, plural(o.Count, "violation", "violations"), o.Policy, o.Rule, o.Mode)
			if failing(o.Mode, o.Excepted, failOn) {
				failed = append(failed, line)
				count += o.Count
			} else {
				other = append(other, line)
			}
		}
		if !res.Allowed || len(failed) > 0 {
			typ := "denied"
			if res.Allowed {
				typ = "fail-on-" + failOn
			}
			tc.Failure = &junitFailure{Type: typ, Message: fmt.Sprintf("%s: %d %s (%s)", verdict(res.Allowed), count,
				plural(count, "violation", "violations"), res.location()), Text: strings.Join(failed, "\n")}
			s.Failures++
			out.Failures++
		}
		if len(other) > 0 {
			tc.SystemOut = strings.Join(other, "\n")
		}
		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, tc)
	}
	return out
}

func (r *report) writeJUnit(w io.Writer, failOn string) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r.junit(failOn)); err != nil {
		return fmt.Errorf("rendering junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
