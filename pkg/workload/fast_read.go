package workload

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Readers of JSON values shared by the hand-written unmarshalers in fast.go.

// beginObject starts reading a JSON object of Go type t. It returns false if there is no object
// to read: a null (consumed; it leaves the value unchanged, as sigs.k8s.io/json does) or an error.
func beginObject(dec *jsontext.Decoder, t reflect.Type) (bool, error) {
	switch k := dec.PeekKind(); k {
	case '{':
		_, err := dec.ReadToken()
		return err == nil, err
	case 'n':
		_, err := dec.ReadToken()
		return false, err
	case 0:
		_, err := dec.ReadToken() // the syntax or I/O error
		return false, err
	default:
		if _, err := dec.ReadValue(); err != nil {
			return false, err
		}
		return false, &json.SemanticError{JSONKind: k, GoType: t, JSONPointer: dec.StackPointer()}
	}
}

// nextMember reads the name of the next member of an object, unescaped (the slice is valid until
// the next read), or consumes the end of the object and returns false.
func nextMember(dec *jsontext.Decoder) ([]byte, bool, error) {
	if dec.PeekKind() == '}' {
		_, err := dec.ReadToken()
		return nil, false, err
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return nil, false, err
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true, nil
	}
	name, err := jsontext.AppendUnquote(nil, raw)
	return name, err == nil, err
}

// fields maps the JSON names of a struct type's fields to their indexes, for the members a
// hand-written unmarshaler leaves to json v2 (fallback). Embedded structs without a name are
// inlined, as json v2 and encoding/json inline them.
func fields(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, idx := range fields(f.Type) {
				if _, ok := m[n]; !ok {
					m[n] = append([]int{i}, idx...)
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			panic(fmt.Sprintf("workload: %s.%s is inlined; fields cannot handle it", t, f.Name))
		}
		if name == "" {
			name = f.Name
		}
		m[name] = []int{i}
	}
	return m
}

// fallback decodes member name of the struct *v (v is a pointer) with json v2, if the struct has
// such a field, and reports whether it had. A null leaves a field of scalar kind unchanged.
func fallback(dec *jsontext.Decoder, table map[string][]int, v reflect.Value, name []byte) (bool, error) {
	i, ok := table[string(name)]
	if !ok {
		return false, nil
	}
	f := v.Elem().FieldByIndex(i)
	if dec.PeekKind() == 'n' {
		switch f.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			_, err := dec.ReadToken()
			return true, err
		}
	}
	return true, json.UnmarshalDecode(dec, f.Addr().Interface())
}

// skipOrFallback decodes a member the switch of a hand-written unmarshaler has no case for.
func skipOrFallback(dec *jsontext.Decoder, table map[string][]int, v reflect.Value, name []byte) error {
	known, err := fallback(dec, table, v, name)
	if !known {
		return skipValue(dec)
	}
	return err
}

// str reads a JSON string into *p; null leaves it unchanged; any other kind is json v2's error.
func str[S ~string](dec *jsontext.Decoder, p *S) error {
	switch dec.PeekKind() {
	case '"':
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		*p = S(unquote(raw))
		return nil
	case 'n':
		_, err := dec.ReadToken()
		return err
	}
	return json.UnmarshalDecode(dec, p)
}

// boolean reads a JSON boolean into *p; null leaves it unchanged.
func boolean(dec *jsontext.Decoder, p *bool) error {
	switch dec.PeekKind() {
	case 't', 'f':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*p = tok.Bool()
		return nil
	case 'n':
		_, err := dec.ReadToken()
		return err
	}
	return json.UnmarshalDecode(dec, p)
}

// integer reads a JSON integer into *p as encoding/json does (strconv.ParseInt of the literal: no
// fraction, no exponent, no overflow); null leaves it unchanged.
func integer[I ~int32 | ~int64](dec *jsontext.Decoder, p *I) error {
	switch dec.PeekKind() {
	case '0':
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(raw), 10, int(reflect.TypeOf(*p).Size())*8)
		if err != nil {
			return &json.SemanticError{JSONKind: '0', JSONValue: raw.Clone(), GoType: reflect.TypeFor[I](),
				JSONPointer: dec.StackPointer(), Err: errors.Unwrap(err)} // strconv's reason: out of range, invalid syntax
		}
		*p = I(n)
		return nil
	case 'n':
		_, err := dec.ReadToken()
		return err
	}
	return json.UnmarshalDecode(dec, p)
}

// intOrString reads an IntOrString (a probe's or a lifecycle handler's port). A plain ASCII string
// and an int32 are read here; any other value (escapes, null, a fraction, a bool) goes to
// IntOrString's own UnmarshalJSON, as json v2 and sigs.k8s.io/json call it, with its error wrapped as
// json v2 wraps it. Either way the value is read as that method reads it: Type set, the other member
// left as it was.
func intOrString(dec *jsontext.Decoder, p *intstr.IntOrString) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch raw.Kind() {
	case '"':
		if plainASCII(raw[1 : len(raw)-1]) {
			p.Type, p.StrVal = intstr.String, string(raw[1:len(raw)-1])
			return nil
		}
	case '0':
		if n, err := strconv.ParseInt(string(raw), 10, 32); err == nil {
			p.Type, p.IntVal = intstr.Int, int32(n)
			return nil
		}
	}
	if err := p.UnmarshalJSON(raw); err != nil {
		return &json.SemanticError{JSONKind: raw.Kind(), JSONValue: raw.Clone(), GoType: intOrStringType,
			JSONPointer: dec.StackPointer(), Err: err}
	}
	return nil
}

var intOrStringType = reflect.TypeFor[intstr.IntOrString]()

// plainASCII reports whether the inside of a JSON string needs no unescaping or UTF-8 checks.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// optional reads a pointer field with read (str, boolean, integer or an unmarshal function): null sets it to nil, a
// value allocates it if it is nil (or decodes into the value it points to, as both decoders do).
func optional[T any](dec *jsontext.Decoder, p **T, read func(*jsontext.Decoder, *T) error) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		*p = nil
		return err
	}
	if *p == nil {
		*p = new(T)
	}
	return read(dec, *p)
}

// stringMap reads a JSON object of strings (labels, annotations) as both decoders do: null sets the
// map to nil, an object merges into it (making it if nil), a repeated key takes its last value.
func stringMap(dec *jsontext.Decoder, p *map[string]string) error {
	if ok, err := beginMap(dec, p); !ok {
		return err
	}
	if *p == nil {
		*p = map[string]string{}
	}
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		k := unquote(raw)
		var v string
		if err := str(dec, &v); err != nil {
			return err
		}
		(*p)[k] = v
	}
	_, err := dec.ReadToken()
	return err
}

// resourceMap reads a resource list (limits, requests), each quantity with its own UnmarshalJSON as
// both decoders do.
func resourceMap(dec *jsontext.Decoder, p *corev1.ResourceList) error {
	if ok, err := beginMap(dec, p); !ok {
		return err
	}
	if *p == nil {
		*p = corev1.ResourceList{}
	}
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		k := corev1.ResourceName(unquote(raw))
		if raw, err = dec.ReadValue(); err != nil {
			return err
		}
		var q resource.Quantity
		if err := q.UnmarshalJSON(raw); err != nil {
			return &json.SemanticError{JSONKind: raw.Kind(), GoType: reflect.TypeFor[resource.Quantity](),
				JSONPointer: dec.StackPointer(), Err: err}
		}
		(*p)[k] = q
	}
	_, err := dec.ReadToken()
	return err
}

// beginMap starts reading a map: it returns false, having set the map to nil, for a null, and
// false with json v2's error for a value that is not an object.
func beginMap[M ~map[K]V, K comparable, V any](dec *jsontext.Decoder, p *M) (bool, error) {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		*p = nil
		return false, err
	case '{':
		_, err := dec.ReadToken()
		return err == nil, err
	}
	return false, json.UnmarshalDecode(dec, p)
}

// unquote returns the string a raw JSON string denotes, as json v2 does (invalid UTF-8 and lone
// surrogates become U+FFFD; the decoder has validated everything else). Common API values are
// returned without allocating.
func unquote(raw jsontext.Value) string {
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			b, _ := jsontext.AppendUnquote(nil, raw)
			return string(b)
		}
	}
	switch string(inner) {
	case "":
		return ""
	case "TCP":
		return "TCP"
	case "UDP":
		return "UDP"
	case "HTTP":
		return "HTTP"
	case "HTTPS":
		return "HTTPS"
	case "http":
		return "http"
	case "https":
		return "https"
	case "metrics":
		return "metrics"
	case "IfNotPresent":
		return "IfNotPresent"
	case "Always":
		return "Always"
	case "Never":
		return "Never"
	case "OnFailure":
		return "OnFailure"
	case "File":
		return "File"
	case "FallbackToLogsOnError":
		return "FallbackToLogsOnError"
	case "/dev/termination-log":
		return "/dev/termination-log"
	case "ClusterFirst":
		return "ClusterFirst"
	case "default-scheduler":
		return "default-scheduler"
	case "default":
		return "default"
	case "RuntimeDefault":
		return "RuntimeDefault"
	case "ALL":
		return "ALL"
	case "cpu":
		return "cpu"
	case "memory":
		return "memory"
	case "true":
		return "true"
	case "false":
		return "false"
	}
	return string(inner)
}

// list reads a JSON array into a slice, each element with read, as sigs.k8s.io/json does: null
// sets it to nil, an empty array to an empty slice, and each element is decoded into the element
// already at its index if there is one (only a repeated field has one) or else a zero value.
func list[T any](dec *jsontext.Decoder, p *[]T, read func(*jsontext.Decoder, *T) error) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		*p = nil
		return err
	case '[':
	default:
		return json.UnmarshalDecode(dec, p) // json v2's type error
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	old := len(*p)
	s := (*p)[:0]
	var zero T
	for dec.PeekKind() != ']' {
		if len(s) < old {
			s = s[:len(s)+1]
		} else {
			s = append(s, zero)
		}
		if err := read(dec, &s[len(s)-1]); err != nil {
			*p = s
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if len(s) == 0 {
		s = []T{}
	}
	*p = s
	return nil
}

// skipValue steps over a member no rule reads (see skip.go).
func skipValue(dec *jsontext.Decoder) error {
	_, err := dec.ReadValue()
	return err
}

// The unmarshalers below share one pattern: beginObject, then a switch on each member name, with
// unknown names skipped. A pod spec type's members that are not in the switch go to fallback, so a
// field added to the API (or forgotten here) is still decoded, by json v2.

// decodeObject reads the JSON object at the decoder's position into *v, one member at a time with
// member (a plain function, so that no closure is allocated per object). A null leaves *v as it is.
func decodeObject[T any](dec *jsontext.Decoder, t reflect.Type, v *T, member func(*jsontext.Decoder, *T, []byte) error) error {
	ok, err := beginObject(dec, t)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		err = member(dec, v, name)
	}
	return err
}
