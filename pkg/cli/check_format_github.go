package cli

import (
	"fmt"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// githubData escapes a workflow command's message as the runner unescapes it.
var githubData = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")

// githubProperty escapes a workflow command's property value, where ":" and "," also separate.
var githubProperty = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")

// githubCommand is the workflow command of a violation: an error for Enforce, a warning for Warn,
// a notice for Audit and for anything an exception waives.
func githubCommand(m v1alpha1.Mode, excepted string) string {
	switch sarifLevel(m, excepted) {
	case "error":
		return "error"
	case "warning":
		return "warning"
	}
	return "notice"
}

// github renders a workflow command per violation, which GitHub Actions shows as an annotation on
// the file and line, then the closing line.
func (r *report) github() string {
	var b strings.Builder
	for i := range r.Results {
		res := &r.Results[i]
		props := "file=" + githubProperty.Replace(res.File)
		if res.Line > 0 {
			props += fmt.Sprintf(",line=%d", res.Line)
			if res.Column > 0 {
				props += fmt.Sprintf(",col=%d", res.Column)
			}
		}
		object := fmt.Sprintf("%s %s/%s", res.Kind, res.Namespace, res.Name)
		for _, v := range res.Violations {
			msg := fmt.Sprintf("%s: %s: %s", object, v.Path, v.Message)
			if v.Excepted != "" {
				msg += " (excepted by " + v.Excepted + ")"
			}
			fmt.Fprintf(&b, "::%s %s,title=%s::%s\n", githubCommand(v.Mode, v.Excepted), props,
				githubProperty.Replace(v.Policy+"/"+v.RuleList()), githubData.Replace(msg))
		}
		for _, o := range res.omissions {
			msg := fmt.Sprintf("%s: %d more %s of this rule, not listed", object, o.Count, plural(o.Count, "violation", "violations"))
			fmt.Fprintf(&b, "::%s %s,title=%s::%s\n", githubCommand(o.Mode, o.Excepted), props,
				githubProperty.Replace(o.Policy+"/"+o.Rule), githubData.Replace(msg))
		}
	}
	r.closingText(&b)
	return b.String()
}
