package policy

import (
	"errors"
	"fmt"
	"io"

	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/manifest"
)

// LoadPathsWithExceptions reads policy files that may also hold PolicyExceptions, as `sealgate
// check --policy` and `sealgate serve --policy-file` do. Like LoadPaths it reports every problem at
// once and loads nothing if anything is wrong. An exception that names no namespace is put in
// defaultNamespace (sealgate's own), where `kubectl apply -n` would put it.
func LoadPathsWithExceptions(paths []string, stdin io.Reader, defaultNamespace string) ([]*Policy, []*Exception, error) {
	docs, err := readStrict(paths, stdin)
	if err != nil {
		return nil, nil, err
	}
	var policyDocs, exceptionDocs []manifest.Document
	for _, d := range docs {
		if d.APIVersion == v1alpha1.GroupVersion.String() && d.Kind == v1alpha1.ExceptionKind {
			exceptionDocs = append(exceptionDocs, d)
		} else {
			policyDocs = append(policyDocs, d)
		}
	}
	ps, perr := FromDocuments(policyDocs)
	xs, xerr := ExceptionsFromDocuments(exceptionDocs, defaultNamespace)
	if err := errors.Join(perr, xerr); err != nil {
		return nil, nil, err
	}
	return ps, xs, nil
}

// LoadExceptionPaths reads files that hold PolicyExceptions only (`--exceptions`).
func LoadExceptionPaths(paths []string, stdin io.Reader, defaultNamespace string) ([]*Exception, error) {
	docs, err := readStrict(paths, stdin)
	if err != nil {
		return nil, err
	}
	return ExceptionsFromDocuments(docs, defaultNamespace)
}

// readStrict reads documents and turns every repeated key into an error: exception files are as
// strict as policy files.
func readStrict(paths []string, stdin io.Reader) ([]manifest.Document, error) {
	docs, warns, err := manifest.ReadPaths(paths, stdin)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, w := range warns {
		errs = append(errs, fmt.Errorf("%s: document %d: line %d: %s: a policy file must not repeat a key", w.Source, w.Index, w.Line, w.Problem()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return docs, nil
}

// ExceptionsFromDocuments decodes and compiles exceptions from documents that must all be
// PolicyException. A namespace and name defined twice is an error naming both places.
func ExceptionsFromDocuments(docs []manifest.Document, defaultNamespace string) ([]*Exception, error) {
	var (
		out  []*Exception
		errs []error
		seen = map[string]string{}
	)
	for i := range docs {
		d := &docs[i]
		x, err := DecodeException(d.APIVersion, d.Kind, d.JSON, defaultNamespace)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Where(), err))
			continue
		}
		if prev, dup := seen[x.ID()]; dup {
			errs = append(errs, fmt.Errorf("%s: exception %q is also defined at %s", d.Where(), x.ID(), prev))
			continue
		}
		seen[x.ID()] = d.Where()
		out = append(out, x)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// DecodeException strictly decodes one PolicyException from JSON and compiles it: unknown and
// duplicate fields are errors with their path, reported with every invalid field. An exception with
// no namespace gets defaultNamespace; "" leaves it without one, which is invalid.
func DecodeException(apiVersion, kind string, js []byte, defaultNamespace string) (*Exception, error) {
	if apiVersion != v1alpha1.GroupVersion.String() || kind != v1alpha1.ExceptionKind {
		return nil, fmt.Errorf("expected %s %s, found %s %s", v1alpha1.GroupVersion, v1alpha1.ExceptionKind, apiVersion, kind)
	}
	var obj v1alpha1.PolicyException
	strict, err := kjson.UnmarshalStrict(js, &obj)
	if err != nil {
		return nil, err
	}
	if obj.Namespace == "" {
		obj.Namespace = defaultNamespace
	}
	x, err := CompileException(&obj)
	if len(strict) == 0 {
		return x, err
	}
	inv := &InvalidExceptionError{Namespace: obj.Namespace, Name: obj.Name, Unknown: strict}
	var verr *InvalidExceptionError
	switch {
	case errors.As(err, &verr):
		inv.Errs = verr.Errs
	case err != nil:
		inv.Unknown = append(inv.Unknown, err)
	}
	return nil, inv
}
