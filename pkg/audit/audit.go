package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Limits of what one audit keeps. Counts are never cut: only the lists are.
const (
	// MaxFindingsPerEntry bounds the violations listed for one top-level object, its pods' included;
	// the rest are counted in OmittedViolations. Those exceptions waive are bounded apart, by
	// MaxExceptedPerEntry, so that they never crowd out the rest.
	MaxFindingsPerEntry = 3 * engine.MaxViolationsPerMode
	MaxExceptedPerEntry = engine.MaxViolationsPerMode
	// MaxCleanPerNamespace bounds the objects with no violation kept per namespace, for pass results.
	MaxCleanPerNamespace = MaxResultsPerReport
	// maxOwnerDepth bounds the walk up an owner chain (Pod, ReplicaSet, Deployment is three), so that
	// a cycle of owner references cannot loop.
	maxOwnerDepth = 8
)

// Auditor evaluates objects with the verdict the webhook would give them. It is safe for
// concurrent use; each Result is not.
type Auditor struct {
	Engine   *engine.Engine
	Policies []*policy.Policy
	Scope    Scope
}

// AsEnforce returns the policies with every Warn and Audit policy switched to Enforce: what would be
// denied if they were enforced.
func AsEnforce(policies []*policy.Policy) []*policy.Policy {
	out := make([]*policy.Policy, len(policies))
	for i, p := range policies {
		if p.Mode == v1alpha1.ModeEnforce {
			out[i] = p
			continue
		}
		q := *p
		q.Mode = v1alpha1.ModeEnforce
		out[i] = &q
	}
	return out
}

// Finding is a violation found on a top-level object or on one of its pods. Object names the pod
// when the violation is on the pod only, as with a pod changed by a mutating webhook.
type Finding struct {
	engine.Violation
	Object string `json:"object,omitempty"`
}

// Entry is the audit of one top-level object: a controller with every pod under it, or a pod that
// nothing controls. Its fields are those of one `sealgate check` result, plus the pods.
type Entry struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid,omitempty"`
	// Source is where the object was found: "cluster", as `sealgate check` says which file.
	Source string `json:"source"`
	// Pods counts the pods under the object (1 for a pod that nothing controls).
	Pods       int       `json:"pods"`
	Allowed    bool      `json:"allowed"`
	Policies   []string  `json:"policies"`
	Violations []Finding `json:"violations"`
	// OmittedViolations counts the violations found beyond the limits and not listed.
	OmittedViolations int `json:"omittedViolations"`

	// Omitted counts them per policy and rule; the counts are part of every total.
	Omitted []engine.Omission `json:"-"`
	key     groupKey
	// listed and listedExcepted count the violations listed, not waived and waived.
	listed, listedExcepted int
}

// groupKey names a top-level object within its namespace.
type groupKey struct{ kind, name string }

// Namespace is the audit of one namespace.
type Namespace struct {
	Name string
	// InScope is false when the webhook never sees the namespace; nothing in it is evaluated.
	InScope bool
	// Objects counts the top-level objects audited, and Pods the pods among or under them.
	Objects, Pods int
	// Skipped counts objects the webhook's object selector leaves out, and OutOfScope all the
	// objects of a namespace the webhook never sees.
	Skipped, OutOfScope int
	// Entries are the objects with a violation, in the order first found.
	Entries []*Entry
	// Clean are objects that policies matched and found nothing wrong with, up to MaxCleanPerNamespace.
	Clean []*Entry
	// CleanOmitted counts the clean objects past MaxCleanPerNamespace, and CleanOmittedResults the
	// pass results they would have (one per policy that matched).
	CleanOmitted, CleanOmittedResults int

	entries  map[groupKey]*Entry
	groups   map[groupKey]int
	owners   map[types.UID]*Ref
	scopeErr error
}

// Result accumulates an audit, namespace by namespace. Add must be given the objects of a namespace
// in KindOrder, so that a pod's owners are known when it comes; AddNamespace sorts them itself.
type Result struct {
	Namespaces map[string]*Namespace
}

// KindOrder is the order objects are added in: every controller before what it owns, pods last.
// Listing kind by kind in this order (as `sealgate audit` does) meets Add's requirement.
var KindOrder = []string{"CronJob", "Deployment", "StatefulSet", "DaemonSet", "ReplicationController",
	"PodTemplate", "Job", "ReplicaSet", "Pod"}

func kindRank(kind string) int {
	if i := slices.Index(KindOrder, kind); i >= 0 {
		return i
	}
	return len(KindOrder)
}

// OrderedKinds is workload.Kinds in KindOrder, the order to list kinds in.
func OrderedKinds() []workload.Kind {
	out := slices.Clone(workload.Kinds)
	slices.SortStableFunc(out, func(a, b workload.Kind) int { return kindRank(a.GVK.Kind) - kindRank(b.GVK.Kind) })
	return out
}

// NewResult returns an empty result.
func NewResult() *Result { return &Result{Namespaces: map[string]*Namespace{}} }

// Add audits one object.
func (a *Auditor) Add(ctx context.Context, r *Result, o *Object) {
	ns := r.namespace(ctx, a, o.Namespace)
	if !ns.InScope {
		ns.OutOfScope++
		return
	}
	ns.add(ctx, a, o)
}

// AddNamespace audits every object of one namespace, in any order, into a fresh, finished
// Namespace that replaces what r had for it: the background audit recomputes a namespace at a time
// from informer stores, which keep no order. The same objects give the same Namespace whatever
// their order, so that an unchanged namespace gives an unchanged report.
func (a *Auditor) AddNamespace(ctx context.Context, r *Result, name string, objects []*Object) *Namespace {
	delete(r.Namespaces, name)
	ns := r.namespace(ctx, a, name)
	sorted := slices.Clone(objects)
	slices.SortFunc(sorted, func(x, y *Object) int {
		return cmp.Or(cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Name, y.Name))
	})
	for _, o := range sorted {
		if !ns.InScope {
			ns.OutOfScope++
			continue
		}
		ns.add(ctx, a, o)
	}
	ns.finish()
	return ns
}

func (r *Result) namespace(ctx context.Context, a *Auditor, name string) *Namespace {
	if ns, ok := r.Namespaces[name]; ok {
		return ns
	}
	ns := &Namespace{Name: name, InScope: true, entries: map[groupKey]*Entry{}, groups: map[groupKey]int{},
		owners: map[types.UID]*Ref{}}
	if a.Scope.Namespaces != nil {
		l, err := a.namespaceLabels(ctx, name)
		if err != nil {
			// A namespace whose labels cannot be read is audited: the engine reports the failed
			// lookup for every policy with a namespace selector, as admission would.
			ns.scopeErr = err
		} else {
			ns.InScope = a.Scope.namespaceIn(l)
		}
	}
	r.Namespaces[name] = ns
	return ns
}

func (a *Auditor) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	if a.Engine.Namespaces == nil {
		return map[string]string{"kubernetes.io/metadata.name": name}, nil
	}
	return a.Engine.Namespaces.Labels(ctx, name)
}

func (ns *Namespace) add(ctx context.Context, a *Auditor, o *Object) {
	if !a.Scope.objectIn(o.Workload.Object.Labels) {
		ns.Skipped++
		return
	}
	if o.Owner != nil && !o.IsPod() {
		ns.owners[o.UID] = o.Owner
		if podBearing(o.Owner) {
			// A ReplicaSet of a Deployment, a Job of a CronJob: its pods are audited under the owner
			// at the top, and the owner's template is the one a change must pass.
			return
		}
		// A Deployment an operator made: audited, and reported through the operator's object.
	}
	top := ns.top(o)
	key := groupKey{top.Kind, top.Name}
	pods, seen := ns.groups[key]
	if !seen {
		ns.Objects++
	}
	if o.IsPod() {
		ns.Pods++
		pods++
	}
	ns.groups[key] = pods

	res := a.Engine.Evaluate(ctx, a.Policies, o.Workload, ns.Name)
	if len(res.Violations) == 0 && len(res.Omitted) == 0 {
		if o.Owner == nil && len(res.Matched) > 0 {
			ns.clean(o, res.Matched)
		}
		return
	}
	e := ns.entries[key]
	if e == nil {
		e = &Entry{APIVersion: top.APIVersion, Kind: top.Kind, Namespace: ns.Name, Name: top.Name, UID: top.UID,
			Source: "cluster", Allowed: true, Policies: []string{}, Violations: []Finding{}, key: key}
		ns.entries[key] = e
		ns.Entries = append(ns.Entries, e)
	}
	e.merge(o, res)
}

// podBearing reports whether a reference names a pod-bearing kind, whose template the audit reads.
func podBearing(r *Ref) bool {
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return false
	}
	_, ok := workload.Lookup(gv.WithKind(r.Kind))
	return ok
}

// top returns the object at the top of o's owner chain: o itself when nothing controls it, else the
// highest owner known. An owner that is not a pod-bearing kind (a custom controller) is the top.
func (ns *Namespace) top(o *Object) Ref {
	if o.Owner == nil {
		apiVersion, kind := o.GroupVersionKind().ToAPIVersionAndKind()
		return Ref{APIVersion: apiVersion, Kind: kind, Name: o.Name, UID: o.UID}
	}
	ref := o.Owner
	for range maxOwnerDepth {
		up, ok := ns.owners[ref.UID]
		if !ok || ref.UID == "" {
			break
		}
		ref = up
	}
	return *ref
}

func (ns *Namespace) clean(o *Object, matched []string) {
	if len(ns.Clean) >= MaxCleanPerNamespace {
		ns.CleanOmitted++
		ns.CleanOmittedResults += len(matched)
		return
	}
	apiVersion, kind := o.GroupVersionKind().ToAPIVersionAndKind()
	ns.Clean = append(ns.Clean, &Entry{APIVersion: apiVersion, Kind: kind, Namespace: ns.Name, Name: o.Name,
		UID: o.UID, Source: "cluster", Allowed: true, Policies: matched, Violations: []Finding{}, key: groupKey{kind, o.Name}})
}

// merge adds what res found on o to the entry. The top object's own violations come first; a pod
// adds only what its owner's template does not already show, naming the pod.
func (e *Entry) merge(o *Object, res *engine.Result) {
	e.Allowed = e.Allowed && res.Allowed()
	for _, p := range res.Matched {
		if !slices.Contains(e.Policies, p) {
			e.Policies = append(e.Policies, p)
		}
	}
	var object string
	if o.Owner != nil {
		object = fmt.Sprintf("%s/%s", o.Kind, o.Name)
	}
	for _, v := range res.Violations {
		if object != "" && e.shows(v) {
			continue
		}
		n, limit := &e.listed, MaxFindingsPerEntry
		if v.Excepted != "" {
			n, limit = &e.listedExcepted, MaxExceptedPerEntry
		}
		if *n >= limit {
			e.omit(engine.Omission{Policy: v.Policy, Rule: v.Rule, Mode: v.Mode, Count: 1, Excepted: v.Excepted})
			continue
		}
		*n++
		e.Violations = append(e.Violations, Finding{Violation: v, Object: object})
	}
	for _, om := range res.Omitted {
		if object != "" && e.hasRule(om.Policy, om.Rule, om.Excepted) {
			// The owner's template already shows this rule failing.
			continue
		}
		e.omit(om)
	}
}

// hasRule reports whether the entry lists or counts a violation of a policy's rule, waived by the
// same exception (or by none).
func (e *Entry) hasRule(policy, rule, excepted string) bool {
	for i := range e.Violations {
		if v := &e.Violations[i]; v.Policy == policy && v.Rule == rule && v.Excepted == excepted && v.Object == "" {
			return true
		}
	}
	for i := range e.Omitted {
		if o := &e.Omitted[i]; o.Policy == policy && o.Rule == rule && o.Excepted == excepted {
			return true
		}
	}
	return false
}

// shows reports whether the entry already lists a violation that says the same as v. A violation
// an exception waives on the owner but not on its pod (an exception that covers the Deployment's
// kind and not Pod) is not the same: the pod's is listed, since it is the one that would deny.
func (e *Entry) shows(v engine.Violation) bool {
	for i := range e.Violations {
		w := &e.Violations[i].Violation
		if w.Policy == v.Policy && w.Rule == v.Rule && w.Container == v.Container && w.Message == v.Message && w.Excepted == v.Excepted {
			return true
		}
	}
	return false
}

func (e *Entry) omit(om engine.Omission) {
	e.OmittedViolations += om.Count
	for i := range e.Omitted {
		if e.Omitted[i].Policy == om.Policy && e.Omitted[i].Rule == om.Rule && e.Omitted[i].Excepted == om.Excepted {
			e.Omitted[i].Count += om.Count
			return
		}
	}
	e.Omitted = append(e.Omitted, om)
}

// finish fills in what is known only once every object of the namespace is in: pods per entry, and
// the clean list without the objects a pod of theirs turned out to violate.
func (ns *Namespace) finish() {
	for _, e := range ns.Entries {
		e.Pods = ns.groups[e.key]
	}
	kept := ns.Clean[:0]
	for _, c := range ns.Clean {
		if _, bad := ns.entries[c.key]; !bad {
			c.Pods = ns.groups[c.key]
			kept = append(kept, c)
		}
	}
	ns.Clean = kept
}
