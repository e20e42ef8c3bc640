package admission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/workload"
)

// request is an AdmissionRequest read in one pass over the body: the object and the old object are
// decoded straight into the shape of their kind, because the API server writes request.kind before
// them. Decoding dominates the cost of an admission, so the body is scanned once, not twice.
type request struct {
	admissionv1.AdmissionRequest
	gvk        schema.GroupVersionKind
	kindSeen   bool
	object     *workload.Workload
	old        *workload.Workload
	objectErr  error // the object is not a valid object of its kind
	oldErr     error
	objectRead bool // object (or its raw bytes, for the fallback) was read
}

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// errStopObject ends reading an envelope whose object could not be decoded into its kind.
var errStopObject = errors.New("object not decodable")

// decodeRequest reads an AdmissionReview body. Errors wrap errBadRequest.
func decodeRequest(body []byte) (*request, error) {
	// Decoders are pooled: their state stacks are the same shape from one review to the next. Nothing
	// decoded keeps a reference into the decoder's buffers (strings are copied, raw values cloned).
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewBuffer(body), workload.Options) // a Buffer is parsed in place, not copied
	var (
		apiVersion, kind string
		r                *request
	)
	err := members(dec, func(name string) error {
		switch name {
		case "apiVersion":
			return json.UnmarshalDecode(dec, &apiVersion)
		case "kind":
			return json.UnmarshalDecode(dec, &kind)
		case "request":
			if dec.PeekKind() == 'n' {
				_, err := dec.ReadToken()
				return err
			}
			r = &request{}
			return r.decode(dec)
		default:
			return dec.SkipValue()
		}
	})
	if errors.Is(err, errStopObject) {
		err = nil
	} else if err == nil {
		if _, err = dec.ReadToken(); errors.Is(err, io.EOF) {
			err = nil
		} else if err == nil {
			err = errors.New("unexpected data after the AdmissionReview")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decoding AdmissionReview: %v", errBadRequest, err)
	}
	if apiVersion != admissionv1.SchemeGroupVersion.String() || kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: expected admission.k8s.io/v1 AdmissionReview, got %q %q", errBadRequest, apiVersion, kind)
	}
	if r == nil {
		return nil, fmt.Errorf("%w: AdmissionReview has no request", errBadRequest)
	}
	if r.UID == "" {
		return nil, fmt.Errorf("%w: AdmissionReview request has no uid", errBadRequest)
	}
	return r, nil
}

func (r *request) decode(dec *jsontext.Decoder) error {
	return members(dec, func(name string) error {
		q := &r.AdmissionRequest
		switch name {
		case "uid":
			return json.UnmarshalDecode(dec, &q.UID)
		case "kind":
			if err := json.UnmarshalDecode(dec, &q.Kind); err != nil {
				return err
			}
			r.gvk = schema.GroupVersionKind{Group: q.Kind.Group, Version: q.Kind.Version, Kind: q.Kind.Kind}
			r.kindSeen = true
			return nil
		case "subResource":
			return json.UnmarshalDecode(dec, &q.SubResource)
		case "name":
			return json.UnmarshalDecode(dec, &q.Name)
		case "namespace":
			return json.UnmarshalDecode(dec, &q.Namespace)
		case "operation":
			return json.UnmarshalDecode(dec, &q.Operation)
		case "dryRun":
			return json.UnmarshalDecode(dec, &q.DryRun)
		case "object":
			r.objectRead = true
			return r.readObject(dec, &q.Object, &r.object, &r.objectErr)
		case "oldObject":
			return r.readObject(dec, &q.OldObject, &r.old, &r.oldErr)
		default:
			// resource, requestKind, requestResource, requestSubResource, userInfo, options: sealgate's
			// verdict depends on none of them, so they are not built.
			return dec.SkipValue()
		}
	})
}

// readObject decodes an embedded object into its workload shape when the kind is already known and
// pod-bearing; otherwise it keeps the raw bytes, decoded later (or never, for kinds sealgate skips).
func (r *request) readObject(dec *jsontext.Decoder, raw *runtime.RawExtension, w **workload.Workload, werr *error) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	if r.kindSeen {
		if _, ok := workload.Lookup(r.gvk); ok {
			*w, *werr = workload.DecodeFrom(r.gvk, dec)
			if *werr == nil {
				return nil
			}
			// After a failed decode the decoder's position is unknown: stop reading the envelope.
			// Malformed JSON makes the whole review malformed; a well-formed object of the wrong
			// shape is denied as undecodable.
			var syn *jsontext.SyntacticError
			if errors.As(*werr, &syn) || errors.Is(*werr, io.ErrUnexpectedEOF) {
				return *werr
			}
			return errStopObject
		}
	}
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	raw.Raw = bytes.Clone(v)
	return nil
}

// members calls member for each name of the JSON object at the decoder's position; member must
// consume the value. A repeated name is an error, however many names came before it: the envelope is
// read strictly (the objects inside take the last value of a repeated name, as the API server's
// decoder does).
func members(dec *jsontext.Decoder, member func(name string) error) error {
	var names memberSet
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("expected an object, found %s", tok.Kind())
	}
	for {
		switch dec.PeekKind() {
		case '}':
			_, err := dec.ReadToken()
			return err
		case 0:
			_, err := dec.ReadToken()
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		name := memberName(raw)
		if !names.add(name) {
			return fmt.Errorf("duplicate member %q within %q", name, dec.StackPointer())
		}
		if err := member(name); err != nil {
			return err
		}
	}
}

// memberSet remembers the names of one JSON object. A real envelope has a dozen members, checked
// against a small array without allocating; past that (only a crafted body has more) a map keeps
// the check O(1), so that 100,000 unique names cost linear time, not quadratic.
type memberSet struct {
	small [16]string
	n     int
	more  map[string]struct{}
}

// add records name and reports whether it was new.
func (s *memberSet) add(name string) bool {
	if slices.Contains(s.small[:s.n], name) {
		return false
	}
	if s.n < len(s.small) {
		s.small[s.n] = name
		s.n++
		return true
	}
	if _, dup := s.more[name]; dup {
		return false
	}
	if s.more == nil {
		s.more = make(map[string]struct{})
	}
	s.more[name] = struct{}{}
	return true
}

// workloads returns the decoded object and old object, decoding raw bytes kept by the fallback:
// a core kind whose request.kind came after the object, or one of the custom kinds, which are
// never decoded in the first pass (their pod spec is not at a fixed place of a typed object).
func (r *request) workloads(kinds workload.CustomKinds) (obj, old *workload.Workload, err error) {
	if r.object == nil && r.objectErr == nil && len(r.Object.Raw) > 0 {
		r.object, r.objectErr = kinds.Decode(r.gvk, r.Object.Raw)
	}
	if r.old == nil && r.oldErr == nil && len(r.OldObject.Raw) > 0 {
		r.old, r.oldErr = kinds.Decode(r.gvk, r.OldObject.Raw)
	}
	return r.object, r.old, r.objectErr
}

// knownMembers are the member names sealgate reads; matching against them avoids allocating a string
// per name.
var knownMembers = []string{"apiVersion", "kind", "request", "uid", "subResource", "name", "namespace",
	"operation", "dryRun", "object", "oldObject", "resource", "requestKind", "requestResource",
	"requestSubResource", "userInfo", "options", "response"}

// memberName returns the unquoted name of a raw JSON object name.
func memberName(raw jsontext.Value) string {
	if len(raw) >= 2 && raw[0] == '"' && !bytes.ContainsAny(raw[1:len(raw)-1], `\"`) {
		inner := raw[1 : len(raw)-1]
		for _, k := range knownMembers {
			if string(inner) == k {
				return k
			}
		}
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw)
	}
	return s
}
