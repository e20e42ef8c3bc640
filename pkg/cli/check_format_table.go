package cli

import (
	"fmt"
	"strings"
)

// table renders one aligned row per object: kind, namespace/name, verdict, violation counts and
// where it is.
func (r *report) table() string {
	var b strings.Builder
	rows := [][]string{{"KIND", "NAMESPACE/NAME", "VERDICT", "ENFORCED", "WARNED", "AUDITED", "EXCEPTED", "LOCATION"}}
	for i := range r.Results {
		res := &r.Results[i]
		c := res.counts()
		rows = append(rows, []string{res.Kind, res.Namespace + "/" + res.Name, verdict(res.Allowed),
			fmt.Sprint(c.Enforced), fmt.Sprint(c.Warned), fmt.Sprint(c.Audited), fmt.Sprint(c.Excepted), res.location()})
	}
	writeTable(&b, rows, 3, 4, 5, 6)
	b.WriteString("\n")
	r.closingText(&b)
	return b.String()
}
