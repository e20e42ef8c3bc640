package v1alpha1

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestPolicyDocsCoverEveryField: docs/policy.md has a section "## `spec.<field>`" for every field of
// the spec, and every field under it is named in that section, so that a new knob cannot land
// undocumented.
func TestPolicyDocsCoverEveryField(t *testing.T) {
	b, err := os.ReadFile("../../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, part := range strings.Split("\n"+string(b), "\n## ")[1:] {
		heading, body, _ := strings.Cut(part, "\n")
		sections[heading] = body
	}
	var walk func(typ reflect.Type, top, path string)
	walk = func(typ reflect.Type, top, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[PolicySpec]().PkgPath() {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := path + "." + name
			sec := top
			if sec == "" {
				sec = p
			}
			body, ok := sections["`"+sec+"`"]
			if !ok {
				t.Errorf("docs/policy.md has no section \"## `%s`\" for %s", sec, p)
				continue
			}
			if top != "" && !regexp.MustCompile(`\b`+regexp.QuoteMeta(name)+`\b`).MatchString(body) {
				t.Errorf("docs/policy.md: section `%s` does not name %s", sec, p)
			}
			walk(f.Type, sec, p)
		}
	}
	walk(reflect.TypeFor[PolicySpec](), "", "spec")
}
