package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/verify"
)

// testOptions are the flags of `sealgate test`.
type testOptions struct {
	Output           string
	VerifySignatures bool
	ReadImageConfigs bool
	Verify           verify.Flags
}

func (o *testOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fs.BoolVar(&o.VerifySignatures, "verify-signatures", false, "verify image signatures against their registries (by default a suite runs offline and the output says signatures were not verified)")
	fs.BoolVar(&o.ReadImageConfigs, "read-image-configs", false, "read image configs from registries (by default a suite runs offline and the output says image configs were not read)")
	o.Verify.AddFlags(fs)
}

func (o *testOptions) Validate() error {
	var errs []error
	if o.Output != "text" && o.Output != "json" {
		errs = append(errs, fmt.Errorf("-o %q: want text or json", o.Output))
	}
	errs = append(errs, o.Verify.Validate())
	return errors.Join(errs...)
}

func newTestCommand(stdio IO) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test DIR|SUITE...",
		Short: "Run policy test suites: resources with the verdicts their policies must give",
		Long: `test reads suite files (` + suiteFileName + ` in each directory given, and below it, or the files
named) and evaluates each test's resources against its policies as check does, offline unless asked.
It prints a pass/fail row per resource. Exit status: 0 when every expectation holds, 1 when any fails,
2 on an invalid suite or unreadable input.`,
		Example: `  sealgate test examples
  sealgate test policies/tests/sealgate-test.yaml -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			files, err := findSuites(args)
			if err != nil {
				return usageError(err)
			}
			var (
				suites []*testSuite
				errs   []error
			)
			for _, f := range files {
				s, err := readSuite(f)
				errs = append(errs, err)
				suites = append(suites, s)
			}
			if err := errors.Join(errs...); err != nil {
				return usageError(err)
			}
			rep, err := o.run(cmd.Context(), stdio, suites)
			if err != nil {
				return usageError(err)
			}
			if err := rep.write(stdio.Out, o.Output); err != nil {
				return usageError(err)
			}
			if rep.Failed > 0 {
				return &exitError{code: ExitDenied}
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// run evaluates every test of every suite with check's code path and compares the verdicts.
func (o *testOptions) run(ctx context.Context, stdio IO, suites []*testSuite) (*testReport, error) {
	rep := &testReport{Rows: []testRow{}, SignaturesSkipped: !o.VerifySignatures, ImageConfigSkipped: !o.ReadImageConfigs}
	for _, s := range suites {
		for i := range s.Tests {
			t := &s.Tests[i]
			co, err := o.checkOptions(s, t)
			if err != nil {
				return nil, fmt.Errorf("%s: tests[%d] (%s): %w", s.file, i, t.Name, err)
			}
			// A suite never reads standard input (validate rejects "-").
			got, _, err := co.run(ctx, IO{Out: stdio.Out, Err: stdio.Err})
			if err != nil {
				return nil, fmt.Errorf("%s: tests[%d] (%s): %w", s.file, i, t.Name, err)
			}
			if len(got.Errors) > 0 {
				return nil, fmt.Errorf("%s: tests[%d] (%s): %s", s.file, i, t.Name, got.Errors[0])
			}
			rep.compare(s, i, got)
		}
	}
	for _, r := range rep.Rows {
		if r.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	return rep, nil
}

// checkOptions are the options `sealgate check` would be given for test t: check's flag defaults
// (registered on a flag set of their own), the test's paths, and the test command's registry flags.
// Validate fills in what check derives from its flags.
func (o *testOptions) checkOptions(s *testSuite, t *testCase) (*checkOptions, error) {
	co := &checkOptions{}
	co.AddFlags(pflag.NewFlagSet("check", pflag.ContinueOnError))
	co.SkipSignatures, co.SkipImageConfig, co.Verify = !o.VerifySignatures, !o.ReadImageConfigs, o.Verify
	for _, p := range t.Policies {
		co.Policies = append(co.Policies, s.path(p))
	}
	for _, p := range t.Exceptions {
		co.Exceptions = append(co.Exceptions, s.path(p))
	}
	for _, p := range t.Resources {
		co.Files = append(co.Files, s.path(p))
	}
	if t.Namespace != "" {
		co.DefaultNamespace = t.Namespace
	}
	if t.SealgateNamespace != "" {
		co.SealgateNamespace = t.SealgateNamespace
	}
	if len(t.Namespaces) > 0 {
		co.namespaceLabels = map[string]map[string]string{}
		for _, ns := range t.Namespaces {
			l := map[string]string{}
			for k, v := range ns.Labels {
				l[k] = v
			}
			// As namespacesFrom does: the API server sets this label to the name.
			l["kubernetes.io/metadata.name"] = ns.Name
			co.namespaceLabels[ns.Name] = l
		}
	}
	return co, co.Validate()
}

// compare adds a row for each object each expectation selects, one for each expectation that
// selects none, and one for each object no expectation selects: a suite covers all its resources.
func (r *testReport) compare(s *testSuite, ti int, got *report) {
	t := &s.Tests[ti]
	covered := make([]bool, len(got.Results))
	for i := range t.Results {
		e := &t.Results[i]
		row := testRow{Suite: s.Metadata.Name, File: s.file, Test: t.Name, Expected: e.Verdict, ExpectedRules: e.Rules}
		matched := false
		for j := range got.Results {
			res := &got.Results[j]
			if !s.selects(e, res) {
				continue
			}
			matched, covered[j] = true, true
			r.Rows = append(r.Rows, row.with(res))
		}
		if !matched {
			row.Kind, row.Namespace, row.Name, row.Source = e.Kind, e.Namespace, e.Name, e.File
			row.Reason = fmt.Sprintf("tests[%d].results[%d] selects no object of the test's resources; check its file, kind, namespace and name", ti, i)
			r.Rows = append(r.Rows, row)
		}
	}
	for j := range got.Results {
		if covered[j] {
			continue
		}
		res := &got.Results[j]
		row := testRow{Suite: s.Metadata.Name, File: s.file, Test: t.Name}.with(res)
		row.Pass = false
		row.Reason = fmt.Sprintf("no entry of results selects this object; add one with verdict: %s", row.Got)
		r.Rows = append(r.Rows, row)
	}
}

// selects reports whether expectation e selects the object of res.
func (s *testSuite) selects(e *expectation, res *result) bool {
	if e.File != "" {
		want, file := s.path(e.File), filepath.Clean(res.File)
		if file != want && !strings.HasPrefix(file, want+string(os.PathSeparator)) {
			return false
		}
	}
	return (e.Kind == "" || e.Kind == res.Kind) && (e.Namespace == "" || e.Namespace == res.Namespace) &&
		(e.Name == "" || e.Name == res.Name)
}

// with fills the row from the object's result and compares it with the expectation.
func (row testRow) with(res *result) testRow {
	row.Kind, row.Namespace, row.Name, row.Source = res.Kind, res.Namespace, res.Name, res.Source
	row.Got, row.Rules = verdictOf(res), rulesOf(res)
	var why []string
	if row.Expected != "" && row.Got != row.Expected {
		why = append(why, fmt.Sprintf("expected %s, got %s", row.Expected, row.Got))
	}
	if row.ExpectedRules != nil {
		want := slices.Clone(row.ExpectedRules)
		slices.Sort(want)
		want = slices.Compact(want)
		if missing := minus(want, row.Rules); len(missing) > 0 {
			why = append(why, "rules expected but not found: "+strings.Join(missing, ", "))
		}
		if extra := minus(row.Rules, want); len(extra) > 0 {
			why = append(why, "rules found but not expected: "+strings.Join(extra, ", "))
		}
	}
	row.Pass = len(why) == 0
	row.Reason = strings.Join(why, "; ")
	return row
}

// verdictOf is what `kubectl apply` would show for the object: denied, admitted with warnings (the
// webhook warns of Warn violations and of violations an exception waives), or admitted.
func verdictOf(res *result) string {
	if !res.Allowed {
		return verdictDenied
	}
	for _, o := range res.omissions {
		if o.Excepted != "" || o.Mode == v1alpha1.ModeWarn {
			return verdictWarned
		}
	}
	for _, v := range res.Violations {
		if v.Excepted != "" || v.Mode == v1alpha1.ModeWarn {
			return verdictWarned
		}
	}
	return verdictAdmitted
}

// rulesOf returns the sorted rule IDs of the object's violations, listed or omitted, whatever their
// mode, waived ones included.
func rulesOf(res *result) []string {
	out := []string{}
	for _, v := range res.Violations {
		out = append(out, v.Rule)
		out = append(out, v.AlsoRules...)
	}
	for _, o := range res.omissions {
		out = append(out, o.Rule)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// minus returns what of a (sorted) is not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
