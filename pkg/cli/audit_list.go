package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

var getOptions = metav1.GetOptions{}

// lister lists pod-bearing objects page by page, as raw JSON decoded straight into audit.Objects:
// no typed object is ever built, and memory holds one page.
type lister struct {
	cs        kubernetes.Interface
	namespace string
	pageSize  int64
	progress  *progress
	listed    int
}

// each calls fn for every pod-bearing object, kind by kind in audit.KindOrder: every controller
// before what it owns, pods last, so that when a pod comes its owner chain is known.
func (l *lister) each(ctx context.Context, fn func(*audit.Object)) error {
	defer l.progress.done()
	for _, k := range audit.OrderedKinds() {
		opts := metav1.ListOptions{Limit: l.pageSize}
		for {
			items, meta, err := audit.ListPage(ctx, audit.RESTClient(l.cs, k), k, l.namespace, opts)
			if apierrors.IsResourceExpired(err) {
				return fmt.Errorf("listing %s: the list expired between pages (the cluster changed too much); run the audit again, or with a larger --page-size", k.Resource)
			}
			if err != nil {
				return fmt.Errorf("listing %s: %w", k.Resource, err)
			}
			for _, obj := range items {
				fn(obj)
			}
			l.listed += len(items)
			l.progress.show(k.Resource, l.listed)
			if opts.Continue = meta.Continue; opts.Continue == "" {
				break
			}
		}
	}
	return nil
}

// namespaces reads the labels of every namespace (or of the one audited), page by page, for the
// webhook's namespace selector and the policies'.
func (l *lister) namespaces(ctx context.Context) (namespaceLabels, error) {
	out := namespaceLabels{}
	if l.namespace != "" {
		ns, err := l.cs.CoreV1().Namespaces().Get(ctx, l.namespace, getOptions)
		if err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", l.namespace, err)
		}
		out[ns.Name] = ns.Labels
		return out, nil
	}
	opts := metav1.ListOptions{Limit: l.pageSize}
	for {
		page, err := l.cs.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		for i := range page.Items {
			out[page.Items[i].Name] = page.Items[i].Labels
		}
		if opts.Continue = page.Continue; opts.Continue == "" {
			return out, nil
		}
	}
}

// namespaceLabels answers engine.Namespaces from the namespaces listed. A namespace that is not
// there (deleted during the audit) is an error, which the engine reports, never "no labels".
type namespaceLabels map[string]map[string]string

func (n namespaceLabels) Labels(_ context.Context, name string) (map[string]string, error) {
	l, ok := n[name]
	if !ok {
		return nil, fmt.Errorf("namespace %q was not listed", name)
	}
	return l, nil
}

// clusterPolicies are the policies in force in the cluster: for each object, the generation
// cluster.Decide picks, as every replica of the webhook does.
func clusterPolicies(ctx context.Context, cs kubernetes.Interface) ([]*policy.Policy, error) {
	var out []*policy.Policy
	var cont string
	for {
		req := cs.Discovery().RESTClient().Get().AbsPath("/apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version,
			"clusteradmissionpolicies").Param("limit", "500").SetHeader("Accept", "application/json")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		raw, err := rawBody(req.Do(ctx))
		if err != nil {
			return nil, fmt.Errorf("listing ClusterAdmissionPolicies (is sealgate's CRD installed? --policy audits with files instead): %w", err)
		}
		var page v1alpha1.ClusterAdmissionPolicyList
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &page); err != nil {
			return nil, fmt.Errorf("decoding ClusterAdmissionPolicies: %w", err)
		}
		for i := range page.Items {
			if d := cluster.Decide(&page.Items[i]); d.Policy != nil {
				out = append(out, d.Policy)
			}
		}
		if cont = page.Continue; cont == "" {
			return out, nil
		}
	}
}

// clusterExceptions are the PolicyExceptions in force in the cluster, in every namespace: those
// cluster.CompileException accepts, as every replica decides them. The error is the API server's,
// NotFound when the PolicyException API is not installed.
func clusterExceptions(ctx context.Context, cs kubernetes.Interface) ([]*policy.Exception, error) {
	var out []*policy.Exception
	var cont string
	reg := rules.Default()
	for {
		req := cs.Discovery().RESTClient().Get().AbsPath("/apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version,
			"policyexceptions").Param("limit", "500").SetHeader("Accept", "application/json")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		raw, err := rawBody(req.Do(ctx))
		if err != nil {
			return nil, err
		}
		var page v1alpha1.PolicyExceptionList
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &page); err != nil {
			return nil, fmt.Errorf("decoding PolicyExceptions: %w", err)
		}
		for i := range page.Items {
			if x, err := cluster.CompileException(&page.Items[i], reg); err == nil {
				out = append(out, x)
			}
		}
		if cont = page.Continue; cont == "" {
			return out, nil
		}
	}
}

// rawBody is the body of a response, or the API server's Status as the error: Raw alone reports
// only the status code, and the reason (an expired continue token, a denied list) would be lost.
func rawBody(res rest.Result) ([]byte, error) {
	raw, err := res.Raw()
	if err != nil {
		return nil, res.Error()
	}
	return raw, nil
}

// requestCounter counts the API requests the audit makes, for its summary.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// progress shows one line on a terminal's stderr while listing, and nothing when stderr is not a
// terminal (a pipe, a CI log).
type progress struct {
	w     io.Writer
	shown bool
}

func newProgress(w io.Writer) *progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progress{w: w}
	}
	return &progress{}
}

func (p *progress) show(resource string, listed int) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\033[Klisting %s… %d objects so far", resource, listed)
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
