package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// loadPoliciesAndExceptions reads the policies of policyPaths, with the PolicyExceptions among them,
// and the exceptions of exceptionPaths; an exception that names no namespace is in
// sealgateNamespace. Every exception is checked against the rules this sealgate has. Every problem
// is reported at once, and nothing is loaded if anything is wrong.
func loadPoliciesAndExceptions(policyPaths, exceptionPaths []string, stdin io.Reader, sealgateNamespace string) ([]*policy.Policy, []*policy.Exception, error) {
	var (
		policies []*policy.Policy
		xs       []*policy.Exception
		errs     []error
	)
	if len(policyPaths) > 0 {
		ps, inline, err := policy.LoadPathsWithExceptions(policyPaths, stdin, sealgateNamespace)
		if err == nil {
			err = engine.ValidateExceptions(rules.Default(), inline)
		}
		policies, xs = ps, inline
		errs = append(errs, err)
	}
	more, err := loadExceptions(exceptionPaths, stdin, sealgateNamespace)
	errs = append(errs, err)
	xs, err = mergeExceptions(xs, more, false)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return policies, xs, nil
}

// loadExceptions reads exception files, checked against the rules this sealgate has.
func loadExceptions(paths []string, stdin io.Reader, sealgateNamespace string) ([]*policy.Exception, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	xs, err := policy.LoadExceptionPaths(paths, stdin, sealgateNamespace)
	if err != nil {
		return nil, err
	}
	if err := engine.ValidateExceptions(rules.Default(), xs); err != nil {
		return nil, err
	}
	return xs, nil
}

// mergeExceptions adds more to xs. An exception of the same namespace and name in both is an error,
// unless replace is set: then the one in more replaces the other (files replace the cluster's).
func mergeExceptions(xs, more []*policy.Exception, replace bool) ([]*policy.Exception, error) {
	index := make(map[string]int, len(xs))
	for i, x := range xs {
		index[x.ID()] = i
	}
	var errs []error
	for _, x := range more {
		i, dup := index[x.ID()]
		switch {
		case !dup:
			index[x.ID()] = len(xs)
			xs = append(xs, x)
		case replace:
			xs[i] = x
		default:
			errs = append(errs, fmt.Errorf("exception %q is defined both in --policy and in --exceptions files", x.ID()))
		}
	}
	return xs, errors.Join(errs...)
}

func countStdin(paths []string) int {
	n := 0
	for _, p := range paths {
		if p == "-" {
			n++
		}
	}
	return n
}
