package v1alpha1

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	forbidType  = reflect.TypeFor[Forbid]()
	requireType = reflect.TypeFor[Require]()
)

// validateKnobs checks every Forbid and Require field of the spec, wherever it is, so that a new knob
// of either type is validated without a line here: the CRD schema holds the API server to the enum
// through the types' markers, and this holds policy files to it.
func validateKnobs(v reflect.Value, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			errs = append(errs, validateKnobs(v.Elem(), path)...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			errs = append(errs, validateKnobs(v.Index(i), path.Index(i))...)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			errs = append(errs, validateKnobs(v.Field(i), path.Child(name))...)
		}
	case reflect.String:
		switch v.Type() {
		case forbidType:
			if x := Forbid(v.String()); x != "" && x != Forbidden && x != AllowForbid {
				errs = append(errs, field.NotSupported(path, x, []Forbid{Forbidden, AllowForbid}))
			}
		case requireType:
			if x := Require(v.String()); x != "" && x != Required && x != AllowRequire {
				errs = append(errs, field.NotSupported(path, x, []Require{Required, AllowRequire}))
			}
		}
	}
	return errs
}
