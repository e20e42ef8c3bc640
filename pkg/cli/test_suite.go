package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/rules"
)

// A suite file is found by this name in the directories `sealgate test` is given.
const (
	suiteFileName   = "sealgate-test.yaml"
	suiteAPIVersion = "sealgate.dev/v1alpha1"
	suiteKind       = "Test"
)

// The verdicts a suite expects: what `kubectl apply` would show.
const (
	verdictAdmitted = "admitted" // allowed, without warnings
	verdictWarned   = "warned"   // allowed, with warnings: Warn violations, or violations an exception waives
	verdictDenied   = "denied"   // an Enforce violation no exception waives
)

var verdicts = []string{verdictAdmitted, verdictWarned, verdictDenied}

// testSuite is a suite file: a list of tests, each evaluating resources against policies as `sealgate
// check` does. It is read by the CLI only and is not a custom resource. The format is documented in
// docs/cli.md.
type testSuite struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Tests []testCase `json:"tests"`

	// file is where the suite was read; paths in it are relative to its directory.
	file string
}

// testCase is one set of policies and resources, and the verdicts expected on them.
type testCase struct {
	Name       string   `json:"name"`
	Policies   []string `json:"policies"`
	Exceptions []string `json:"exceptions,omitempty"`
	Resources  []string `json:"resources"`
	// Namespace is where objects that name none are evaluated (check's --namespace).
	Namespace string `json:"namespace,omitempty"`
	// SealgateNamespace is check's --sealgate-namespace.
	SealgateNamespace string `json:"sealgateNamespace,omitempty"`
	// Namespaces gives the labels of namespaces the resources do not define as Namespace objects.
	Namespaces []testNamespace `json:"namespaces,omitempty"`
	Results    []expectation   `json:"results"`
}

type testNamespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// expectation selects objects among a test's resources, by file or kind, namespace and name, and
// says the verdict each of them must get and, when Rules is set (even empty), the exact set of rule
// IDs of their violations, whatever the mode, waived ones included.
type expectation struct {
	File      string   `json:"file,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	Verdict   string   `json:"verdict"`
	Rules     []string `json:"rules,omitempty"`
}

// readSuite reads and validates one suite file. Every problem is reported at once, each with its
// field path.
func readSuite(file string) (*testSuite, error) {
	docs, warns, err := manifest.ReadPaths([]string{file}, nil)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, w := range warns {
		errs = append(errs, fmt.Errorf("%s: a suite file must not repeat a key", w))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: want exactly one %s %s document, found %d", file, suiteAPIVersion, suiteKind, len(docs))
	}
	s := &testSuite{file: file}
	strict, err := kjson.UnmarshalStrict(docs[0].JSON, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, e := range strict {
		errs = append(errs, fmt.Errorf("%s: %w: remove it or fix its spelling (the format is in docs/cli.md)", file, e))
	}
	for _, e := range s.validate() {
		errs = append(errs, fmt.Errorf("%s: %s", file, e.Error()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func (s *testSuite) validate() field.ErrorList {
	var errs field.ErrorList
	if s.APIVersion != suiteAPIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), s.APIVersion, "want "+suiteAPIVersion))
	}
	if s.Kind != suiteKind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), s.Kind, "want "+suiteKind))
	}
	if s.Metadata.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name the suite: the table shows it"))
	}
	if len(s.Tests) == 0 {
		errs = append(errs, field.Required(field.NewPath("tests"), "list at least one test"))
	}
	names := map[string]bool{}
	for i := range s.Tests {
		t := &s.Tests[i]
		p := field.NewPath("tests").Index(i)
		switch {
		case t.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "name the test: the table shows it"))
		case names[t.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), t.Name))
		}
		names[t.Name] = true
		errs = append(errs, s.validatePaths(p.Child("policies"), t.Policies, true)...)
		errs = append(errs, s.validatePaths(p.Child("exceptions"), t.Exceptions, false)...)
		errs = append(errs, s.validatePaths(p.Child("resources"), t.Resources, true)...)
		errs = append(errs, validateNamespaceName(p.Child("namespace"), t.Namespace)...)
		errs = append(errs, validateNamespaceName(p.Child("sealgateNamespace"), t.SealgateNamespace)...)
		seen := map[string]bool{}
		for j, ns := range t.Namespaces {
			np := p.Child("namespaces").Index(j)
			if ns.Name == "" {
				errs = append(errs, field.Required(np.Child("name"), "name the namespace"))
			} else if seen[ns.Name] {
				errs = append(errs, field.Duplicate(np.Child("name"), ns.Name))
			}
			seen[ns.Name] = true
			errs = append(errs, validateNamespaceName(np.Child("name"), ns.Name)...)
		}
		if len(t.Results) == 0 {
			errs = append(errs, field.Required(p.Child("results"), "list the verdict expected for each resource"))
		}
		for j := range t.Results {
			errs = append(errs, s.validateExpectation(p.Child("results").Index(j), &t.Results[j])...)
		}
	}
	return errs
}

func (s *testSuite) validatePaths(p *field.Path, paths []string, required bool) field.ErrorList {
	var errs field.ErrorList
	if required && len(paths) == 0 {
		errs = append(errs, field.Required(p, "list at least one file or directory, relative to the suite file"))
	}
	for i, path := range paths {
		switch {
		case path == "" || path == "-":
			errs = append(errs, field.Invalid(p.Index(i), path, "want a file or directory, relative to the suite file (a suite does not read standard input)"))
		default:
			if _, err := os.Stat(s.path(path)); err != nil {
				errs = append(errs, field.Invalid(p.Index(i), path, fmt.Sprintf("cannot be read (%v); paths are relative to the suite file", err)))
			}
		}
	}
	return errs
}

func validateNamespaceName(p *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		return nil
	}
	for _, msg := range validation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

func (s *testSuite) validateExpectation(p *field.Path, e *expectation) field.ErrorList {
	var errs field.ErrorList
	if e.File == "" && e.Name == "" {
		errs = append(errs, field.Required(p, "select the resources: set file (relative to the suite file), or name with kind and namespace if several objects share it"))
	}
	if e.File != "" {
		if _, err := os.Stat(s.path(e.File)); err != nil {
			errs = append(errs, field.Invalid(p.Child("file"), e.File, fmt.Sprintf("cannot be read (%v); paths are relative to the suite file", err)))
		}
	}
	if !slices.Contains(verdicts, e.Verdict) {
		errs = append(errs, field.NotSupported(p.Child("verdict"), e.Verdict, verdicts))
	}
	known, checks := engine.RuleIDs(rules.Default())
	for i, id := range e.Rules {
		if !slices.Contains(known, id) && !slices.Contains(checks, id) {
			errs = append(errs, field.Invalid(p.Child("rules").Index(i), id,
				"no rule of this sealgate reports this ID; use an ID that `sealgate check` prints in brackets after the policy name, such as images.allowedRegistries or podSecurity.privileged"))
		}
	}
	return errs
}

// path resolves a path of the suite against the suite file's directory.
func (s *testSuite) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(s.file), p)
}

// findSuites returns the suite files among args: a file is a suite; a directory is walked for files
// named sealgate-test.yaml.
func findSuites(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == suiteFileName {
				found = append(found, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no %s in this directory or below it; name a suite file, or write one (docs/cli.md)", a, suiteFileName)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}
