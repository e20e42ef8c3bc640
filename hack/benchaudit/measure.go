package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// auditJSON is the part of `sealgate audit -o json` the benchmark reads.
type auditJSON struct {
	Results []struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Pods      int    `json:"pods"`
	} `json:"results"`
	Summary struct {
		Objects  int `json:"objects"`
		Pods     int `json:"pods"`
		Denied   int `json:"denied"`
		Warned   int `json:"warned"`
		Audited  int `json:"audited"`
		Policies []struct {
			Policy string `json:"policy"`
			Rules  []struct {
				Rule    string `json:"rule"`
				Objects int    `json:"objects"`
			} `json:"rules"`
		} `json:"policies"`
	} `json:"summary"`
	Listed      int   `json:"listed"`
	APIRequests int64 `json:"apiRequests"`
}

// ruleCounts are the violating objects per policy and rule, "policy/rule" -> objects.
func (a *auditJSON) ruleCounts() map[string]int {
	out := map[string]int{}
	for _, p := range a.Summary.Policies {
		for _, r := range p.Rules {
			out[p.Policy+"/"+r.Rule] = r.Objects
		}
	}
	return out
}

// cliRun is one run of `sealgate audit`.
type cliRun struct {
	Wall   time.Duration
	MaxRSS int64 // bytes, from the process's rusage
	Exit   int
	out    auditJSON
}

// measureCLI runs `sealgate audit -o json` o.Runs times, one after the other, nothing else running.
func (b *bench) measureCLI(ctx context.Context) error {
	for i := range b.o.Runs {
		b.say("sealgate audit -o json, run %d of %d", i+1, b.o.Runs)
		m, err := runMeasured(ctx, b.bin, "audit", "-o", "json", "--kubeconfig", b.c.Kubeconfig, "--sealgate-namespace", cluster.Namespace)
		if err != nil {
			return fmt.Errorf("sealgate audit: %w", err)
		}
		// Exit 1 says something would be denied: the expected answer.
		if m.Exit != 0 && m.Exit != 1 {
			return fmt.Errorf("sealgate audit: exit status %d\n%s", m.Exit, m.Stderr)
		}
		r := cliRun{Wall: m.Wall, MaxRSS: m.MaxRSS, Exit: m.Exit}
		if err := json.Unmarshal(m.Stdout, &r.out); err != nil {
			return fmt.Errorf("decoding the output of sealgate audit -o json: %w", err)
		}
		b.cli = append(b.cli, r)
		s := r.out.Summary
		b.say("  %.2f s, peak RSS %s, %d API requests, %d objects listed; %d objects (%d pods): %d violating (%d denied, %d warned, %d audited); exit %d",
			r.Wall.Seconds(), cluster.MiB(uint64(r.MaxRSS)), r.out.APIRequests, r.out.Listed, s.Objects, s.Pods,
			len(r.out.Results), s.Denied, s.Warned, s.Audited, r.Exit)
	}
	return nil
}

// serveConfig is how one serve process runs.
type serveConfig struct {
	audit, hasAuditFlag bool
	// memLimit is the process's GOMEMLIMIT; empty: unset.
	memLimit string
	// want is the CLI's output, which the summary report must match.
	want *auditJSON
}

// serveRun is what one `sealgate serve` process showed.
type serveRun struct {
	serveConfig
	Ready time.Duration // from the start of the process until ready and trusted by the API server
	// Matched: the summary report said what the CLI found, Report after the process started.
	Matched  bool
	Report   time.Duration
	lastDiff string
	// PeakAtReport is VmHWM when the report matched; Mem is VmRSS and VmHWM after o.Settle more.
	PeakAtReport uint64
	Mem          cluster.Memory
	// Requests counts the process's API requests (rest_client_requests_total), at the match and
	// at the end; HasRequests is false when the process does not export that metric.
	RequestsAtReport, Requests float64
	HasRequests                bool
	Writes, Scans              map[string]float64
	Reports                    int // Reports named sealgate
}

// measureServe runs `sealgate serve` (cluster mode, as test/cluster starts it) with the background
// audit on or off. With it on, it deletes the reports an earlier run wrote and polls the
// ClusterReport until its per-rule counts are the CLI's.
func (b *bench) measureServe(ctx context.Context, sc serveConfig) (*serveRun, error) {
	// A configuration left by an earlier serve points at its port; StartSealgate registers its own.
	vwc := webhookconfig.Empty()
	vwc.Name = "sealgate"
	if err := b.c.Client.Delete(ctx, vwc); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting the webhook configuration: %w", err)
	}
	if sc.audit {
		if err := deleteReports(ctx, b.c.Client); err != nil {
			return nil, err
		}
	}
	var args []string
	if sc.hasAuditFlag {
		args = append(args, "--audit="+strconv.FormatBool(sc.audit))
	}
	r := &serveRun{serveConfig: sc}
	// The process inherits this one's environment (test/cluster sets none of its own).
	env := ""
	if sc.memLimit != "" {
		env = "GOMEMLIMIT=" + sc.memLimit + " "
		if err := os.Setenv("GOMEMLIMIT", sc.memLimit); err != nil {
			return nil, err
		}
	}
	b.say("starting %ssealgate serve %s", env, strings.Join(args, " "))
	start := time.Now()
	s, err := b.c.StartSealgate(ctx, b.bin, args...)
	if sc.memLimit != "" {
		_ = os.Unsetenv("GOMEMLIMIT")
	}
	if err != nil {
		return nil, err
	}
	b.serve = append(b.serve, s)
	defer s.Stop()
	r.Ready = time.Since(start)
	b.say("  ready after %.1f s", r.Ready.Seconds())
	if sc.audit {
		b.say("  waiting for ClusterReport %s to say what the CLI found (up to %s)", audit.ClusterReportName, b.o.Timeout)
		if err := b.waitReport(ctx, s, r, start, sc.want); err != nil {
			return nil, err
		}
	}
	b.say("  letting it run %s more before reading its memory", b.o.Settle)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(b.o.Settle):
	}
	if r.Mem, err = cluster.ReadMemory(s.Pid()); err != nil {
		return nil, err
	}
	text, err := s.Metrics()
	if err != nil {
		return nil, fmt.Errorf("reading sealgate's metrics: %w", err)
	}
	r.Requests, r.HasRequests = requestCount(text)
	r.Writes = samplesBy(text, "sealgate_audit_report_writes_total", "kind")
	r.Scans = samplesBy(text, "sealgate_audit_scans_total", "kind")
	if sc.audit {
		if r.Reports, err = countReports(ctx, b.c.Client); err != nil {
			return nil, err
		}
	}
	b.say("  RSS %s, peak %s; %.0f API requests; report writes %v; scans %v; %d Reports",
		cluster.MiB(r.Mem.RSS), cluster.MiB(r.Mem.Peak), r.Requests, r.Writes, r.Scans, r.Reports)
	return r, s.Stop()
}

func (b *bench) waitReport(ctx context.Context, s *cluster.Sealgate, r *serveRun, start time.Time, want *auditJSON) error {
	deadline := start.Add(b.o.Timeout)
	lastSaid := time.Now()
	for {
		ok, diff, err := summaryMatches(ctx, b.c.Client, want)
		if err != nil {
			return err
		}
		if ok {
			r.Matched, r.Report = true, time.Since(start)
			mem, err := cluster.ReadMemory(s.Pid())
			if err != nil {
				return err
			}
			r.PeakAtReport = mem.Peak
			if text, err := s.Metrics(); err == nil {
				r.RequestsAtReport, _ = requestCount(text)
			}
			b.say("  the summary report matched %.1f s after the start; peak RSS so far %s", r.Report.Seconds(), cluster.MiB(mem.Peak))
			return nil
		}
		r.lastDiff = diff
		if !s.Alive() {
			return fmt.Errorf("sealgate serve exited while auditing\n%s", tail(s.Log.String(), 40))
		}
		if time.Now().After(deadline) {
			b.say("  gave up after %s: %s", b.o.Timeout, diff)
			return nil
		}
		if time.Since(lastSaid) >= 15*time.Second {
			mem, _ := cluster.ReadMemory(s.Pid())
			b.say("  still waiting (%.0f s, RSS %s): %s", time.Since(start).Seconds(), cluster.MiB(mem.RSS), diff)
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var clusterReportGVK = orv1alpha1.SchemeGroupVersion.WithKind("ClusterReport")

// summaryMatches reads the ClusterReport and compares its per-rule object counts with the CLI's.
func summaryMatches(ctx context.Context, c client.Client, want *auditJSON) (bool, string, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterReportGVK)
	if err := c.Get(ctx, client.ObjectKey{Name: audit.ClusterReportName}, u); apierrors.IsNotFound(err) {
		return false, "no ClusterReport " + audit.ClusterReportName + " yet", nil
	} else if err != nil {
		return false, "", fmt.Errorf("reading ClusterReport %s: %w", audit.ClusterReportName, err)
	}
	var cr orv1alpha1.ClusterReport
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cr); err != nil {
		return false, "", fmt.Errorf("decoding ClusterReport %s: %w", audit.ClusterReportName, err)
	}
	got := map[string]int{}
	for _, res := range cr.Results {
		if res.Rule == "" || res.Result == audit.ResultPass {
			continue
		}
		n, err := strconv.Atoi(res.Properties["objects"])
		if err != nil {
			return false, fmt.Sprintf("result %s/%s has no object count (%q)", res.Policy, res.Rule, res.Properties["objects"]), nil
		}
		got[res.Policy+"/"+res.Rule] = n
	}
	w := want.ruleCounts()
	if fmt.Sprint(got) == fmt.Sprint(w) { // fmt prints maps sorted by key
		return true, "", nil
	}
	return false, fmt.Sprintf("report %s, CLI %s", describeCounts(got), describeCounts(w)), nil
}

func describeCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// deleteReports deletes the reports sealgate wrote, so that the next audit writes them anew.
func deleteReports(ctx context.Context, c client.Client) error {
	for _, kind := range []string{"ClusterReport", "Report"} {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(orv1alpha1.SchemeGroupVersion.WithKind(kind + "List"))
		if err := c.List(ctx, l, client.MatchingLabels{audit.LabelManagedBy: audit.Source}); err != nil {
			return fmt.Errorf("listing %ss: %w", kind, err)
		}
		for i := range l.Items {
			if err := c.Delete(ctx, &l.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %s %s: %w", kind, l.Items[i].GetName(), err)
			}
		}
	}
	return nil
}

// countReports counts the Reports sealgate wrote (one per namespace with something to report).
func countReports(ctx context.Context, c client.Client) (int, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(orv1alpha1.SchemeGroupVersion.WithKind("ReportList"))
	if err := c.List(ctx, l, client.MatchingLabels{audit.LabelManagedBy: audit.Source}); err != nil {
		return 0, fmt.Errorf("listing Reports: %w", err)
	}
	return len(l.Items), nil
}

// requestCount sums client-go's rest_client_requests_total, which controller-runtime exports: every
// request the process made (lists, watches, leases, report and status writes).
func requestCount(text string) (float64, bool) {
	if !strings.Contains(text, "\nrest_client_requests_total{") {
		return 0, false
	}
	n, err := cluster.SumSamples(text, "rest_client_requests_total", nil)
	return n, err == nil
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)`)

// samplesBy sums metric name's samples by the value of one label.
func samplesBy(text, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		key := ""
		for _, kv := range strings.Split(m[2], ",") {
			if k, val, ok := strings.Cut(kv, "="); ok && k == label {
				key = strings.Trim(val, `"`)
			}
		}
		out[key] += v
	}
	return out
}

// serveHasAudit reports whether the binary's serve command has the --audit flag (the background
// audit), so that the benchmark runs against builds from before it.
func serveHasAudit(ctx context.Context, bin string) (bool, error) {
	out, err := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("%s serve --help: %w\n%s", bin, err, out)
	}
	return regexp.MustCompile(`(?m)^\s+--audit\s`).Match(out), nil
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// median of the runs' wall times, and their range.
func wallTimes(runs []cliRun) (median, lo, hi time.Duration) {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = r.Wall
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[0], ds[len(ds)-1]
}
