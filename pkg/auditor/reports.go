package auditor

import (
	"context"
	"fmt"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
)

// reports reads and writes the report objects in one of audit.ReportAPIs. It works on the
// OpenReports types whichever API it writes: a PolicyReport is read back into a Report (the results
// and summary have the same shape), so that audit.SameContent decides for both.
type reports struct {
	c client.Client
	// wg writes wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport instead.
	wg bool
	// wrote counts one write of kind "report" or "clusterreport".
	wrote func(kind string)
}

// Kinds written, for audit.ReportAPIs.
var (
	reportGVK        = orv1alpha1.SchemeGroupVersion.WithKind("Report")
	clusterReportGVK = orv1alpha1.SchemeGroupVersion.WithKind("ClusterReport")
	policyReportGVK  = audit.PolicyWGGroupVersion.WithKind("PolicyReport")
	clusterPolicyGVK = audit.PolicyWGGroupVersion.WithKind("ClusterPolicyReport")
)

func (r *reports) nsGVK() schema.GroupVersionKind {
	if r.wg {
		return policyReportGVK
	}
	return reportGVK
}

func (r *reports) clusterGVK() schema.GroupVersionKind {
	if r.wg {
		return clusterPolicyGVK
	}
	return clusterReportGVK
}

// managedSelector selects the reports sealgate writes: the only ones it updates or deletes.
var managedSelector = client.MatchingLabels{audit.LabelManagedBy: audit.Source}

func managed(obj client.Object) bool { return obj.GetLabels()[audit.LabelManagedBy] == audit.Source }

// list returns sealgate's namespace reports by namespace, read page by page.
func (r *reports) list(ctx context.Context) (map[string]*orv1alpha1.Report, error) {
	out := map[string]*orv1alpha1.Report{}
	opts := []client.ListOption{managedSelector, client.Limit(listPageSize)}
	for cont := ""; ; {
		ul := &unstructured.UnstructuredList{}
		ul.SetGroupVersionKind(r.nsGVK().GroupVersion().WithKind(r.nsGVK().Kind + "List"))
		if err := r.c.List(ctx, ul, append(opts, client.Continue(cont))...); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", r.nsGVK().Kind, err)
		}
		for i := range ul.Items {
			if u := &ul.Items[i]; u.GetName() == audit.ReportName {
				rep, err := fromUnstructured[orv1alpha1.Report](u)
				if err != nil {
					return nil, err
				}
				out[u.GetNamespace()] = rep
			}
		}
		if cont = ul.GetContinue(); cont == "" {
			return out, nil
		}
	}
}

// listPageSize bounds one list of reports.
const listPageSize = 500

// get returns the report in a namespace, nil when there is none.
func (r *reports) get(ctx context.Context, namespace string) (*orv1alpha1.Report, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.nsGVK())
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: audit.ReportName}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s/%s: %w", u.GetKind(), namespace, audit.ReportName, err)
	}
	return fromUnstructured[orv1alpha1.Report](u)
}

// getCluster returns the ClusterReport, nil when there is none.
func (r *reports) getCluster(ctx context.Context) (*orv1alpha1.ClusterReport, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.clusterGVK())
	if err := r.c.Get(ctx, client.ObjectKey{Name: audit.ClusterReportName}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", u.GetKind(), audit.ClusterReportName, err)
	}
	return fromUnstructured[orv1alpha1.ClusterReport](u)
}

func fromUnstructured[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}

// putNamespace makes the report of a namespace want (nil: none), given have, what is there now. It
// writes only when the content changed, and never touches a report sealgate does not manage. It
// returns the report now in place.
func (r *reports) putNamespace(ctx context.Context, namespace string, want, have *orv1alpha1.Report) (*orv1alpha1.Report, error) {
	if have != nil && !managed(have) {
		return have, fmt.Errorf("%s %s/%s exists without label %s=%s: not sealgate's, left alone",
			r.nsGVK().Kind, namespace, audit.ReportName, audit.LabelManagedBy, audit.Source)
	}
	switch {
	case want == nil && have == nil:
		return nil, nil
	case want == nil:
		return nil, r.delete(ctx, r.nsGVK(), namespace, audit.ReportName, have.ResourceVersion, "report")
	}
	if have != nil {
		audit.KeepTimestamps(want.Results, have.Results)
		if audit.SameContent(r.comparable(want), have) {
			return have, nil
		}
		want.ResourceVersion = have.ResourceVersion
	}
	return want, r.write(ctx, want, have == nil, "report")
}

// putCluster is putNamespace for the ClusterReport.
func (r *reports) putCluster(ctx context.Context, want, have *orv1alpha1.ClusterReport) (*orv1alpha1.ClusterReport, error) {
	if have != nil && !managed(have) {
		return have, fmt.Errorf("%s %s exists without label %s=%s: not sealgate's, left alone",
			r.clusterGVK().Kind, audit.ClusterReportName, audit.LabelManagedBy, audit.Source)
	}
	if have != nil {
		audit.KeepTimestamps(want.Results, have.Results)
		cmp := want
		if r.wg {
			cmp = want.DeepCopy()
			cmp.Source, cmp.Configuration = "", nil
		}
		if audit.SameClusterContent(cmp, have) {
			return have, nil
		}
		want.ResourceVersion = have.ResourceVersion
	}
	return want, r.write(ctx, want, have == nil, "clusterreport")
}

// comparable is want as it reads back from the API it is written in: a PolicyReport has no
// top-level source and no configuration.
func (r *reports) comparable(want *orv1alpha1.Report) *orv1alpha1.Report {
	if !r.wg {
		return want
	}
	c := want.DeepCopy()
	c.Source, c.Configuration = "", nil
	return c
}

// write creates or updates obj (a Report or ClusterReport) in the API written. An update carries
// the resourceVersion read, so that a report changed since is read again rather than overwritten.
func (r *reports) write(ctx context.Context, obj client.Object, create bool, kind string) error {
	wire := obj
	if r.wg {
		u, err := audit.ToPolicyWG(obj)
		if err != nil {
			return err
		}
		wire = u
	} else if u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err == nil {
		// Written as unstructured, like a PolicyReport, so that the client needs no scheme for it.
		wire = &unstructured.Unstructured{Object: u}
	} else {
		return err
	}
	var err error
	if create {
		err = r.c.Create(ctx, wire)
	} else {
		err = r.c.Update(ctx, wire)
	}
	if err != nil {
		verb := "updating"
		if create {
			verb = "creating"
		}
		return fmt.Errorf("%s %s %s: %w", verb, wire.GetObjectKind().GroupVersionKind().Kind, client.ObjectKeyFromObject(obj), err)
	}
	// The next update of obj must carry the version just written.
	obj.SetResourceVersion(wire.GetResourceVersion())
	r.wrote(kind)
	return nil
}

func (r *reports) delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name, resourceVersion, kind string) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	err := r.c.Delete(ctx, u, client.Preconditions{ResourceVersion: &resourceVersion})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	r.wrote(kind)
	return nil
}
