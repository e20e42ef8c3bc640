package auditor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Timings of the scanner.
const (
	// coalesce is how long a namespace waits after a change before it is audited again, so that a
	// rollout (a ReplicaSet and its pods) costs one recompute, not one per object.
	coalesce = time.Second
	// leaderPoll is how often the scanner looks whether this replica leads. It polls rather than
	// reading Leadership.Gained, whose one value the policy status sweep already takes.
	leaderPoll = time.Second
	// maxRetries bounds the retries of a namespace whose report could not be written; the next
	// change or full scan writes it.
	maxRetries = 8
	// maxLoggedErrors bounds the errors one log line lists.
	maxLoggedErrors = 5
)

// Keys of the work queue besides namespace names, which never hold a NUL.
const (
	keyFull = "\x00full"
	keyLost = "\x00lost"
)

// Scanner is the background audit of the elected replica. It scans every namespace when the
// replica becomes the leader and whenever the policies in force change, and between those audits
// again only the namespaces whose objects or labels changed. One goroutine does all the work, so
// the state below needs no lock.
type Scanner struct {
	Informers *Informers
	// Engine is the webhook's engine: the same namespace lookups, signature verifier and cache.
	Engine *engine.Engine
	Store  *cluster.Store
	// Exceptions, when set, makes a change of what the PolicyExceptions waive (one created, changed,
	// deleted or expired) rescan as a change of the policies does.
	Exceptions Changes
	Leader     cluster.Leadership
	// Client reads and writes reports, status and the webhook configuration (no cache).
	Client client.Client
	// Cache reads policies from the manager's cache.
	Cache client.Reader
	// ReportAPI is one of audit.ReportAPIs.
	ReportAPI string
	// WebhookConfig names the ValidatingWebhookConfiguration whose workload webhook sets the scope;
	// Namespace is sealgate's own, for the default scope when it is not installed.
	WebhookConfig string
	Namespace     string
	Metrics       metrics.AuditRecorder
	Log           logr.Logger
	Now           func() time.Time

	queue workqueue.TypedRateLimitingInterface[string]
	// scanned is set once a full scan of this term is done, and fullQueued while one is queued;
	// watch reads them to queue the scan a term needs exactly once.
	scanned, fullQueued atomic.Bool
	// term is the state of the current leadership term; nil when not leading or before the first
	// full scan of the term.
	term *term
}

// term is what the leader keeps between scans. result holds the last audit of every namespace with
// an object in scope (pkg/audit's Namespace: the violating objects with their findings, up to
// audit.MaxCleanPerNamespace clean ones, and a key per top object), so that a namespace recompute
// can total the cluster without reading every other namespace again; it is smaller than the
// informers' own stores.
type term struct {
	result   *audit.Result
	scope    audit.Scope
	policies map[string]int64 // generation of each policy at the last full scan
	cluster  *orv1alpha1.ClusterReport
	status   *statusWriter
	// noReports is set when the report API is not installed: status and metrics are still kept.
	noReports bool
}

// Changes is a versioned set that says when it changes: the exceptions in force.
type Changes interface {
	Changes() (uint64, <-chan struct{})
}

// EventSource is an informer the scanner follows: the manager's namespace informer.
type EventSource interface {
	AddEventHandler(handler cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error)
}

// Register prepares the scanner and subscribes it to the workload informers and to namespaces, whose
// label changes (scope, namespaceSelector) make it audit that namespace again. Call it once, before
// Start.
func (s *Scanner) Register(namespaces EventSource) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Metrics == nil {
		s.Metrics = metrics.Nop{}
	}
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "audit"})
	if err := s.Informers.OnChange(s.Dirty); err != nil {
		return err
	}
	_, err := namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(oldObj, newObj any) {
		o, ok1 := oldObj.(*corev1.Namespace)
		n, ok2 := newObj.(*corev1.Namespace)
		if ok1 && ok2 && !maps.Equal(o.Labels, n.Labels) {
			s.Dirty(n.Name)
		}
	}})
	if err != nil {
		return fmt.Errorf("watching namespace labels: %w", err)
	}
	return nil
}

// Start runs the scanner until ctx ends. It implements manager.Runnable and runs on every replica;
// it does work only while this replica leads.
func (s *Scanner) Start(ctx context.Context) error {
	defer s.queue.ShutDown()
	select {
	case <-s.Informers.Ready():
	case <-ctx.Done():
		return nil
	}
	for !s.Store.Loaded() {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil
		}
	}
	go s.watch(ctx)
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for s.next(ctx) {
	}
	return nil
}

// NeedLeaderElection: the scanner follows the elector itself.
func (s *Scanner) NeedLeaderElection() bool { return false }

// Dirty queues a namespace for a recompute, if this replica leads. Events of the informers' first
// list are dropped: the full scan that follows it covers them.
func (s *Scanner) Dirty(namespace string) {
	if s.Informers.Synced() && s.Leader.Leading() {
		s.queue.AddAfter(namespace, coalesce)
	}
}

// watch queues a full scan when this replica leads without having scanned in this term (it just
// became the leader, or a scan was dropped while it briefly did not lead) and when the policies or
// exceptions in force change, and a reset when it stops leading. It polls Leading rather than reading
// Leadership.Gained, whose one value the policy status sweep already takes.
func (s *Scanner) watch(ctx context.Context) {
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	_, changed := s.Store.Changes()
	var exceptionsChanged <-chan struct{} // nil, never ready, without Exceptions
	if s.Exceptions != nil {
		_, exceptionsChanged = s.Exceptions.Changes()
	}
	for {
		switch {
		case s.Leader.Leading():
			if !s.scanned.Load() && !s.fullQueued.Swap(true) {
				s.queue.Add(keyFull)
			}
		case s.scanned.Load():
			s.queue.Add(keyLost)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
			_, changed = s.Store.Changes()
			if s.Leader.Leading() {
				s.fullQueued.Store(true)
				s.queue.Add(keyFull)
			}
		case <-exceptionsChanged:
			_, exceptionsChanged = s.Exceptions.Changes()
			if s.Leader.Leading() {
				s.fullQueued.Store(true)
				s.queue.Add(keyFull)
			}
		}
	}
}

func (s *Scanner) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	var err error
	leading := s.Leader.Leading()
	switch {
	case key == keyLost || !leading:
		if s.term != nil {
			s.Log.Info("no longer the leader: the audit stops until this replica leads again")
		}
		s.term = nil
		s.scanned.Store(false)
		// A full scan dropped here is queued again by watch once this replica leads.
		s.fullQueued.Store(false)
		s.Metrics.AuditViolations(nil)
	case key == keyFull:
		if err = s.fullScan(ctx); err == nil {
			s.scanned.Store(true)
			s.fullQueued.Store(false)
		}
	case s.term == nil:
		// No full scan yet in this term: the one queued covers the namespace.
	default:
		err = s.recompute(ctx, key)
	}
	if err == nil || ctx.Err() != nil {
		s.queue.Forget(key)
		return true
	}
	if n := s.queue.NumRequeues(key); n < maxRetries || key == keyFull {
		s.Log.Error(err, "audit failed; retrying", "key", printable(key), "retries", n)
		s.queue.AddRateLimited(key)
		return true
	}
	s.Log.Error(err, "audit failed; giving up until the next change", "key", printable(key))
	s.queue.Forget(key)
	return true
}

func printable(key string) string {
	switch key {
	case keyFull:
		return "full scan"
	case keyLost:
		return "leadership lost"
	}
	return key
}

// fullScan audits every namespace, rewrites every report that changed and deletes those of
// namespaces with nothing left to report.
func (s *Scanner) fullScan(ctx context.Context) error {
	start := time.Now()
	policies, err := s.Store.Policies()
	if err != nil {
		return err
	}
	scope := s.scope(ctx)
	prev := s.term
	t := &term{result: audit.NewResult(), scope: scope, policies: map[string]int64{},
		status: &statusWriter{c: s.Client, cache: s.Cache, wrote: s.Metrics.AuditReportWrite, written: map[string]*v1alpha1.AuditStatus{}}}
	if prev != nil {
		t.status.written = prev.status.written
	}
	a := &audit.Auditor{Engine: s.Engine, Policies: policies, Scope: scope}
	for _, ns := range s.Informers.Namespaces() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.AddNamespace(ctx, t.result, ns, s.Informers.Objects(ns))
	}
	_, summary := t.result.Finish()
	now := s.Now()
	rep := s.reports()
	var failed []error
	// retry is an error that makes the scan run again later: the reports could not be listed.
	var retry error
	have, err := rep.list(ctx)
	switch {
	case meta.IsNoMatchError(err):
		t.noReports = true
		s.Log.Error(err, "the report API is not installed: the audit keeps policy status and metrics, and writes no report", "api", s.ReportAPI)
	case err != nil:
		t.noReports, retry = true, err
	}
	names := map[string]bool{}
	for ns := range t.result.Namespaces {
		names[ns] = true
	}
	for ns := range have {
		names[ns] = true
	}
	for ns := range names {
		want := s.namespaceReport(t.result, ns, now)
		if t.noReports {
			continue
		}
		if _, err := rep.putNamespace(ctx, ns, want, have[ns]); err != nil {
			failed = append(failed, err)
			s.queue.AddRateLimited(ns)
		}
	}
	if !t.noReports {
		if t.cluster, err = rep.getCluster(ctx); err == nil {
			t.cluster, err = rep.putCluster(ctx, audit.SummaryReport(summary, policies, now), t.cluster)
		}
		if err != nil {
			failed = append(failed, err)
		}
	}
	changed := func(p *policy.Policy) bool {
		if prev == nil {
			return false // the first scan of a term writes only what differs: a new leader is no news
		}
		gen, ok := prev.policies[p.Name]
		return !ok || gen != p.Generation
	}
	for _, p := range policies {
		t.policies[p.Name] = p.Generation
		if err := t.status.write(ctx, p.Name, auditStatus(p, summary, now), changed(p)); err != nil {
			failed = append(failed, err)
		}
	}
	s.Metrics.AuditViolations(violationCounts(summary))
	s.Metrics.AuditScan("full")
	s.term = t
	s.Log.Info("audit: full scan", "scope", scope.Source, "policies", len(policies), "namespaces", len(t.result.Namespaces),
		"objects", summary.Objects, "pods", summary.Pods, "denied", summary.Denied, "warned", summary.Warned,
		"audited", summary.Audited, "elapsed", time.Since(start).Round(time.Millisecond).String())
	if len(failed) > 0 {
		// Namespaces were queued again one by one; the rest of the scan stands.
		// One log line, however many namespaces failed: the first few errors and the count.
		s.Log.Error(errors.Join(failed[:min(len(failed), maxLoggedErrors)]...), "audit: some writes of the full scan failed",
			"count", len(failed), "listed", min(len(failed), maxLoggedErrors))
	}
	// The term stands (status, metrics, incremental work) while the scan is retried for the reports.
	return retry
}

// recompute audits one namespace again and rewrites what changed because of it.
func (s *Scanner) recompute(ctx context.Context, ns string) error {
	t := s.term
	policies, err := s.Store.Policies()
	if err != nil {
		return err
	}
	a := &audit.Auditor{Engine: s.Engine, Policies: policies, Scope: t.scope}
	a.AddNamespace(ctx, t.result, ns, s.Informers.Objects(ns))
	_, summary := t.result.Finish()
	now := s.Now()
	want := s.namespaceReport(t.result, ns, now)
	rep := s.reports()
	var errs []error
	if !t.noReports {
		if have, err := rep.get(ctx, ns); err == nil {
			_, err = rep.putNamespace(ctx, ns, want, have)
			errs = append(errs, err)
		} else {
			errs = append(errs, err)
		}
		if c, err := rep.putCluster(ctx, audit.SummaryReport(summary, policies, now), t.cluster); err == nil {
			t.cluster = c
		} else {
			// Read it again: the failure may be a conflict with a change made by someone else.
			t.cluster, _ = rep.getCluster(ctx)
			errs = append(errs, err)
		}
	}
	for _, p := range policies {
		errs = append(errs, t.status.write(ctx, p.Name, auditStatus(p, summary, now), false))
	}
	s.Metrics.AuditViolations(violationCounts(summary))
	s.Metrics.AuditScan("incremental")
	return errors.Join(errs...)
}

// namespaceReport is the report of ns in r, nil when there is nothing to report; a namespace with
// nothing to report is dropped from r, so that r keeps only namespaces that have objects in scope.
func (s *Scanner) namespaceReport(r *audit.Result, ns string, now time.Time) *orv1alpha1.Report {
	n, ok := r.Namespaces[ns]
	if !ok {
		return nil
	}
	rep := audit.NamespaceReport(n, now)
	if !n.InScope || n.Objects+n.Skipped == 0 {
		delete(r.Namespaces, ns)
	}
	return rep
}

func (s *Scanner) reports() *reports {
	return &reports{c: s.Client, wg: s.ReportAPI == audit.APIPolicyWG, wrote: s.Metrics.AuditReportWrite}
}
