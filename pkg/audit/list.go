package audit

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/sealgate/sealgate/pkg/workload"
)

// ObjectList is a list of Objects, as an informer's list function returns it.
type ObjectList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []*Object
}

// DeepCopyObject implements runtime.Object; Objects are immutable, so the items are shared.
func (l *ObjectList) DeepCopyObject() runtime.Object {
	c := *l
	c.ListMeta = *l.ListMeta.DeepCopy()
	c.Items = slices.Clone(l.Items)
	return &c
}

// page is the part of a list response ListPage reads: the items stay raw until each is decoded.
type page struct {
	Metadata metav1.ListMeta  `json:"metadata"`
	Items    []jsontext.Value `json:"items"`
}

// ListPage lists one page of a pod-bearing kind (namespace "" for every namespace) and decodes each
// item straight from the response's JSON into an Object: no typed object is built, so memory holds
// the page and what the rules read. c is the REST client of the kind's group and version.
func ListPage(ctx context.Context, c rest.Interface, k workload.Kind, namespace string, opts metav1.ListOptions) ([]*Object, metav1.ListMeta, error) {
	req := c.Get().Resource(k.Resource).VersionedParams(&opts, scheme.ParameterCodec).SetHeader("Accept", "application/json")
	if namespace != "" {
		req = req.Namespace(namespace)
	}
	res := req.Do(ctx)
	raw, err := res.Raw()
	if err != nil {
		// Raw reports only the status code; Error has the API server's reason (an expired
		// continue token, a denied list).
		return nil, metav1.ListMeta{}, res.Error()
	}
	var p page
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, metav1.ListMeta{}, fmt.Errorf("decoding a page of %s: %w", k.Resource, err)
	}
	out := make([]*Object, 0, len(p.Items))
	for _, item := range p.Items {
		o, err := FromJSON(k.GVK, item)
		if err != nil {
			return nil, metav1.ListMeta{}, fmt.Errorf("%s: %w", k.Resource, err)
		}
		out = append(out, o)
	}
	return out, p.Metadata, nil
}

// ListAll lists every object of a kind page by page, for an informer's list function. A list "from
// any version" (resourceVersion 0, the informer's first) is made a consistent read instead, because
// the API server answers that one from its cache in a single response whatever the limit, which on a
// large cluster is hundreds of megabytes decoded at once.
func ListAll(ctx context.Context, c rest.Interface, k workload.Kind, opts metav1.ListOptions, pageSize int64) (*ObjectList, error) {
	if opts.ResourceVersion == "0" {
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
	opts.Limit = pageSize
	out := &ObjectList{}
	for {
		items, meta, err := ListPage(ctx, c, k, "", opts)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, items...)
		if out.ResourceVersion == "" {
			out.ResourceVersion = meta.ResourceVersion
		}
		if meta.Continue == "" {
			return out, nil
		}
		// Later pages come from the first page's snapshot; they take no resourceVersion.
		opts.Continue, opts.ResourceVersion, opts.ResourceVersionMatch = meta.Continue, "", ""
	}
}

// Watch watches a kind and turns each object into an Object as it arrives, so that an informer
// stores Objects from its list and its watch alike. Events without a workload (errors) pass as they
// are; an object that cannot be decoded becomes an error event, and the informer lists again.
func Watch(ctx context.Context, c rest.Interface, k workload.Kind, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	w, err := c.Get().Resource(k.Resource).VersionedParams(&opts, scheme.ParameterCodec).Watch(ctx)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Error || e.Object == nil {
			return e, true
		}
		o, err := FromTyped(e.Object)
		if err != nil {
			return watch.Event{Type: watch.Error, Object: &metav1.Status{Status: metav1.StatusFailure,
				Message: fmt.Sprintf("audit: %v", err), Reason: metav1.StatusReasonInvalid, Code: 422}}, true
		}
		e.Object = o
		return e, true
	}), nil
}

// RESTClient is the REST client of a kind's group and version in cs; nil when cs has none
// (client-go's fake clientset).
func RESTClient(cs kubernetes.Interface, k workload.Kind) rest.Interface {
	var c rest.Interface
	switch k.GVK.Group {
	case "apps":
		c = cs.AppsV1().RESTClient()
	case "batch":
		c = cs.BatchV1().RESTClient()
	default:
		c = cs.CoreV1().RESTClient()
	}
	if rc, ok := c.(*rest.RESTClient); c == nil || (ok && rc == nil) {
		return nil
	}
	return c
}

// PageSize is the page size of the informers' lists.
const PageSize = 500
