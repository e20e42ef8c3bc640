package policy

import (
	"errors"
	"fmt"
	"io"

	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/manifest"
)

// LoadPaths reads and compiles every policy in the named files and directories ("-" is stdin). It
// reports every problem at once, each naming the file, the document and the field; it loads nothing
// if anything is wrong, so a half-read policy set never goes into force. Policy files are strict
// end to end: a key repeated anywhere in a document is an error, where a workload's would only be
// a warning.
func LoadPaths(paths []string, stdin io.Reader) ([]*Policy, error) {
	docs, warns, err := manifest.ReadPaths(paths, stdin)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, w := range warns {
		errs = append(errs, fmt.Errorf("%s: document %d: line %d: %s: a policy file must not repeat a key", w.Source, w.Index, w.Line, w.Problem()))
	}
	ps, err := FromDocuments(docs)
	if err != nil || len(errs) > 0 {
		return nil, errors.Join(append(errs, err)...)
	}
	return ps, nil
}

// FromDocuments decodes and compiles policies from documents that must all be ClusterAdmissionPolicy.
func FromDocuments(docs []manifest.Document) ([]*Policy, error) {
	var (
		out  []*Policy
		errs []error
		seen = map[string]string{}
	)
	for i := range docs {
		d := &docs[i]
		p, err := Decode(d.APIVersion, d.Kind, d.JSON)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Where(), err))
			continue
		}
		if prev, dup := seen[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: policy %q is also defined at %s", d.Where(), p.Name, prev))
			continue
		}
		seen[p.Name] = d.Where()
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Decode strictly decodes one ClusterAdmissionPolicy from JSON and compiles it: unknown and duplicate
// fields are errors with their path, as kubectl's strict field validation would report them.
func Decode(apiVersion, kind string, js []byte) (*Policy, error) {
	if apiVersion != v1alpha1.GroupVersion.String() || kind != v1alpha1.Kind {
		return nil, fmt.Errorf("expected %s %s, found %s %s", v1alpha1.GroupVersion, v1alpha1.Kind, apiVersion, kind)
	}
	var obj v1alpha1.ClusterAdmissionPolicy
	strict, err := kjson.UnmarshalStrict(js, &obj)
	if err != nil {
		return nil, err
	}
	p, err := Compile(&obj)
	if len(strict) == 0 {
		return p, err
	}
	// Unknown and duplicate fields are reported together with every invalid field, one per line, so
	// that one run shows everything to fix.
	inv := &InvalidError{Name: obj.Name, Unknown: strict}
	var verr *InvalidError
	switch {
	case errors.As(err, &verr):
		inv.Errs = verr.Errs
	case err != nil:
		inv.Unknown = append(inv.Unknown, err)
	}
	return nil, inv
}
