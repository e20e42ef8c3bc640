package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/workload"
)

// inputOptions are check's flags about what it reads and when an input fails the run.
type inputOptions struct {
	Ignore          []string
	ContinueOnError bool
	AllowEmpty      bool
	StrictKinds     bool
}

func (o *inputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Ignore, "ignore", nil, "do not read files or directories matching this glob, by path or by a trailing part of it such as the base name (repeatable; e.g. Chart.yaml, '*/templates/*')")
	fs.BoolVar(&o.ContinueOnError, "continue-on-error", false, "report files and objects that cannot be read as errors in the output, evaluate the rest, and exit 2 at the end")
	fs.BoolVar(&o.AllowEmpty, "allow-empty", false, "exit 0 rather than 2 when no object is read, or none is of a kind sealgate checks")
	fs.BoolVar(&o.StrictKinds, "strict-kinds", false, "fail (exit 2) on workloads at removed API versions and on objects of other kinds that carry a pod spec")
}

func (o *inputOptions) Validate() error {
	var errs []error
	for _, p := range o.Ignore {
		if err := manifest.ValidPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("--ignore %w", err))
		}
	}
	return errors.Join(errs...)
}

// inputError is a file or an object that could not be read, or (--strict-kinds) one of a kind that
// is refused. Document and Line are 0 for a file that could not be read at all.
type inputError struct {
	File     string `json:"file"`
	Document int    `json:"document,omitempty"`
	Line     int    `json:"line,omitempty"`
	Message  string `json:"message"`
}

func newInputError(e *manifest.Error) inputError {
	msg := e.Err.Error()
	if e.Item > 0 {
		msg = fmt.Sprintf("item %d: %s", e.Item, msg)
	}
	return inputError{File: e.Source, Document: e.Index, Line: e.Line, Message: msg}
}

func (e inputError) String() string {
	if e.Document == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s: document %d: line %d: %s", e.File, e.Document, e.Line, e.Message)
}

// checkObject is an object to evaluate.
type checkObject struct {
	doc *manifest.Document
	w   *workload.Workload
	// note says the object's API version is removed; it was evaluated as the served version.
	note string
}

// checkRead is what check read from its manifests.
type checkRead struct {
	read    int                 // objects read, of any kind
	docs    []manifest.Document // every object read that is not in error; Namespaces among them supply labels
	objects []checkObject
	// readErrs cannot be read or decoded; kindErrs are refused by --strict-kinds.
	readErrs, kindErrs []*manifest.Error
	skipped            map[string]int // by kindKey
}

// readInput reads and decodes every manifest, collecting every problem instead of stopping at the
// first; warnings go to w.
func (o *checkOptions) readInput(stdin io.Reader, w io.Writer) *checkRead {
	in := manifest.ReadAll(o.Files, stdin, manifest.Options{Ignore: o.Input.Ignore})
	for _, warn := range in.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	ci := &checkRead{read: len(in.Docs), readErrs: in.Errors, skipped: map[string]int{}}
	for i := range in.Docs {
		d := &in.Docs[i]
		fail := func(err error) {
			ci.readErrs = append(ci.readErrs, &manifest.Error{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line, Err: err})
		}
		if d.APIVersion == "v1" && d.Kind == "Namespace" {
			if _, err := namespacesFrom([]manifest.Document{*d}); err != nil {
				fail(errors.New(strings.TrimPrefix(err.Error(), d.Where()+": ")))
				continue
			}
		}
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		if err != nil {
			fail(fmt.Errorf("apiVersion %q: %w", d.APIVersion, err))
			continue
		}
		gvk := gv.WithKind(d.Kind)
		obj := checkObject{doc: d}
		removed, isRemoved := workload.Removed(gvk)
		if isRemoved {
			obj.note = fmt.Sprintf("apiVersion %s of %s was removed in Kubernetes %s and the API server refuses it: write apiVersion: %s (the pod template is the same); it was checked as %s",
				d.APIVersion, d.Kind, removed.RemovedIn, removed.Served.GroupVersion(), removed.Served.GroupVersion())
			gvk = removed.Served
		}
		obj.w, err = o.CustomKinds.kinds.Decode(gvk, d.JSON)
		if errors.Is(err, workload.ErrNotWorkload) {
			ci.docs = append(ci.docs, *d)
			ci.skipped[kindKey(gvk)]++
			if path := podSpecPath(d.JSON); path != "" {
				msg := fmt.Sprintf("%s %s has a pod spec at %s, but sealgate does not check this kind: it was skipped", d.APIVersion, d.Kind, path)
				if o.Input.StrictKinds {
					ci.kindErrs = append(ci.kindErrs, &manifest.Error{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line,
						Err: errors.New(msg + " (--strict-kinds)")})
				} else {
					hint := ""
					if gvk.Group != "" {
						hint = fmt.Sprintf("--kind-pod-spec %s/%s=%s checks it; ", d.APIVersion, d.Kind, path)
					}
					fmt.Fprintf(w, "warning: %s: line %d: %s (%s--strict-kinds makes this an error)\n", d.Where(), d.Line, msg, hint)
				}
			}
			continue
		}
		if err != nil {
			fail(err)
			continue
		}
		ci.docs = append(ci.docs, *d)
		ci.objects = append(ci.objects, obj)
		if isRemoved && o.Input.StrictKinds {
			ci.kindErrs = append(ci.kindErrs, &manifest.Error{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line,
				Err: errors.New(obj.note + " (--strict-kinds)")})
		}
	}
	return ci
}

// kindKey names a kind as spec.match.kinds does: "Deployment" for the core group's kinds and
// "group/Kind" for the others.
func kindKey(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind
	}
	return gvk.Group + "/" + gvk.Kind
}

// podSpecPath is the field path of the pod spec an object of an unknown kind seems to carry (one
// with containers), or "".
func podSpecPath(js []byte) string {
	type spec struct {
		Containers json.RawMessage `json:"containers"`
	}
	type template struct {
		Spec spec `json:"spec"`
	}
	var o struct {
		Spec struct {
			Containers  json.RawMessage `json:"containers"`
			Template    template        `json:"template"`
			JobTemplate struct {
				Spec struct {
					Template template `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
		Template template `json:"template"`
	}
	if json.Unmarshal(js, &o) != nil {
		return ""
	}
	for _, c := range []struct {
		path string
		raw  json.RawMessage
	}{
		{"spec", o.Spec.Containers},
		{"spec.template.spec", o.Spec.Template.Spec.Containers},
		{"spec.jobTemplate.spec.template.spec", o.Spec.JobTemplate.Spec.Template.Spec.Containers},
		{"template.spec", o.Template.Spec.Containers},
	} {
		if len(c.raw) > 0 && string(c.raw) != "null" {
			return c.path
		}
	}
	return ""
}

// fill records in rep what was not evaluated.
func (ci *checkRead) fill(rep *report) {
	for _, e := range slices.Concat(ci.readErrs, ci.kindErrs) {
		rep.Errors = append(rep.Errors, newInputError(e))
	}
	for _, n := range ci.skipped {
		rep.Skipped += n
	}
	if len(ci.skipped) > 0 {
		rep.SkippedKinds = ci.skipped
	}
}

// listErrors prints every read error on w and returns the exit status for them: the run stops
// before any output unless --continue-on-error.
func listErrors(w io.Writer, errs []*manifest.Error) error {
	for _, e := range errs {
		fmt.Fprintf(w, "error: %s\n", newInputError(e))
	}
	fmt.Fprintf(w, "error: %d %s could not be read; fix %s, --ignore the files, or pass --continue-on-error to check the rest\n",
		len(errs), plural(len(errs), "input", "inputs"), plural(len(errs), "it", "them"))
	return &exitError{code: ExitUsage}
}

// inputVerdict is the exit status the input itself gives, once the report is written: 2 when it
// lists errors, or when nothing was read or checked (unless --allow-empty).
func (o *checkOptions) inputVerdict(rep *report, read int) error {
	var errs []error
	if n := len(rep.Errors); n > 0 {
		errs = append(errs, fmt.Errorf("%d %s in the input, listed in the output", n, plural(n, "error", "errors")))
	}
	if !o.Input.AllowEmpty {
		switch {
		case read == 0:
			errs = append(errs, fmt.Errorf("no objects read: %s held no Kubernetes object (a `helm template` that failed in a pipeline "+
				"without `set -o pipefail` leaves standard input empty); pass --allow-empty if an empty input is expected", strings.Join(o.Files, ", ")))
		case len(rep.Results) == 0 && len(rep.Errors) == 0 && len(rep.Excluded) == 0: // excluded workloads were read fine
			errs = append(errs, fmt.Errorf("no workloads checked: the %d %s read %s of kinds sealgate does not check (%s); pass --allow-empty if that is expected",
				read, plural(read, "object", "objects"), plural(read, "is", "are all"), skippedList(rep.SkippedKinds)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return usageError(errors.Join(errs...))
}

// skippedList is "ConfigMap 2, Service 1": the skipped kinds with their counts, by kind.
func skippedList(kinds map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	return strings.Join(parts, ", ")
}

// inputText is the text output's lines about the input: one per error.
func (r *report) inputText(b *strings.Builder) {
	for _, e := range r.Errors {
		fmt.Fprintf(b, "error  %s\n", e)
	}
}
