// Command benchaudit is the scale benchmark of the audit (issue 9), not a test: it starts a real
// local control plane (test/cluster), fills it with at least 10,000 pods and their controllers,
// applies examples/policies, and measures
//
//   - `sealgate audit -o json`, run --runs times as a child process: wall time (median), peak RSS
//     (its rusage, through a wrapper: see runMeasured), API requests and objects listed (from its
//     JSON), violating objects found;
//   - the background audit of `sealgate serve` (--audit): time from the process's start until the
//     ClusterReport sealgate-summary says what the CLI found, peak RSS (VmHWM), API requests and
//     report writes (from its metrics), beside a `sealgate serve --audit=false` on the same cluster
//     and the audit again under the GOMEMLIMIT sealgate sets in a pod of the chart (--gomemlimit);
//   - what audit.Transform keeps per object (the informers' store), in this process's heap.
//
// It writes the figures, with the machine, date, load average, Go version and commit, as Markdown
// between the markers <!-- audit-scale:begin --> and <!-- audit-scale:end --> of --out
// (docs/performance.md; hack/bench.sh keeps that region when it rewrites the file). `make
// bench-audit` runs it. Everything it starts is stopped on exit, on error and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sealgate/sealgate/hack/internal/benchdoc"
	"github.com/sealgate/sealgate/test/cluster"
)

// defaultSizes make the cluster of the acceptance criterion: 20 namespaces, 10,040 pods under
// 2,140 top-level objects, 20% of them violating a policy.
var defaultSizes = sizes{Namespaces: 20, Pods: 10000, Replicas: 5, StatefulSets: 2, StatefulSetReplicas: 3, DaemonSets: 1, Nodes: 4,
	CronJobs: 2, BarePods: 5, Violating: 0.2}

// chartGoMemLimit is the Go runtime's soft limit in a pod of the chart: 90% (pkg/server's
// memoryLimitShare) of charts/sealgate's default memory limit, 512Mi.
const (
	chartGoMemLimit  = "460MiB"
	chartMemoryLimit = 512 << 20
)

// options are the flags.
type options struct {
	sizes
	Sealgate string
	Policies string
	Workers  int
	Runs     int
	Settle   time.Duration
	Timeout  time.Duration
	Out      string
	// MemLimit is GOMEMLIMIT for one more serve run with the audit; empty: no such run.
	MemLimit string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == wrapArg {
		os.Exit(wrapChild(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	o := options{sizes: defaultSizes}
	flag.IntVar(&o.Namespaces, "namespaces", o.Namespaces, "namespaces; every other one is labelled env=prod")
	flag.IntVar(&o.Pods, "pods", o.Pods, "at least this many pods in all; Deployments fill what the other kinds leave")
	flag.IntVar(&o.Replicas, "replicas", o.Replicas, "pods per Deployment (one ReplicaSet each)")
	flag.IntVar(&o.StatefulSets, "statefulsets", o.StatefulSets, "StatefulSets per namespace")
	flag.IntVar(&o.StatefulSetReplicas, "statefulset-replicas", o.StatefulSetReplicas, "pods per StatefulSet")
	flag.IntVar(&o.DaemonSets, "daemonsets", o.DaemonSets, "DaemonSets per namespace")
	flag.IntVar(&o.Nodes, "nodes", o.Nodes, "pods per DaemonSet (one per node)")
	flag.IntVar(&o.CronJobs, "cronjobs", o.CronJobs, "CronJobs per namespace, each with one Job and its pod")
	flag.IntVar(&o.BarePods, "bare-pods", o.BarePods, "pods per namespace that nothing controls")
	flag.Float64Var(&o.Violating, "violating", o.Violating, "fraction of top-level objects that violate a policy")
	flag.StringVar(&o.Sealgate, "sealgate", "", "sealgate binary to measure (default: build one from this checkout)")
	flag.StringVar(&o.Policies, "policies", "examples/policies", "policy file or directory applied to the cluster")
	flag.IntVar(&o.Workers, "workers", 16, "concurrent clients creating the objects")
	flag.IntVar(&o.Runs, "runs", 3, "runs of `sealgate audit`; the wall time reported is their median")
	flag.DurationVar(&o.Settle, "settle", 10*time.Second, "how long a serve process runs after its audit (or readiness) before its memory is read")
	flag.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for the background audit's summary report")
	flag.StringVar(&o.Out, "out", benchdoc.PerformanceDoc, "file whose audit-scale region is rewritten; empty: print only")
	flag.StringVar(&o.MemLimit, "gomemlimit", chartGoMemLimit, "GOMEMLIMIT of one more serve run with the audit (default: what sealgate sets under the chart's memory limit); empty: no such run")
	flag.Parse()
	if err := o.sizes.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "benchaudit:", err)
		return 2
	}
	if o.Workers < 1 || o.Runs < 1 {
		fmt.Fprintln(os.Stderr, "benchaudit: --workers and --runs must be at least 1")
		return 2
	}
	// envtest and controller-runtime log through this logger; stderr is for the steps.
	ctrllog.SetLogger(logr.Discard())
	if o.Sealgate != "" {
		abs, err := filepath.Abs(o.Sealgate)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchaudit:", err)
			return 2
		}
		o.Sealgate = abs
	}
	if err := os.Chdir(cluster.Root()); err != nil { // --policies and --out are relative to the checkout
		fmt.Fprintln(os.Stderr, "benchaudit:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	b := &bench{o: o, start: time.Now()}
	err := b.run(ctx)
	b.cleanup()
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "benchaudit: interrupted")
		return 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchaudit:", err)
		return 1
	}
	return 0
}

// bench is one run of the benchmark and what it found.
type bench struct {
	o     options
	start time.Time
	dir   string
	c     *cluster.Cluster
	bin   string
	serve []*cluster.Sealgate // every serve process started, stopped by cleanup

	env       environment
	plan      plan
	created   creation
	podBytes  podSize
	store     storeCost
	cli       []cliRun
	serveOff  *serveRun
	serveOn   *serveRun
	serveLim  *serveRun // with the audit and GOMEMLIMIT o.MemLimit
	serveNote string    // why the background audit was not measured, if it was not
}

// say reports a step on stderr, with the time since the start.
func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchaudit [%6s] %s\n", time.Since(b.start).Round(time.Second), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	b.env = readEnvironment()
	b.plan = newPlan(b.o.sizes)
	p := b.plan
	b.say("plan: %d namespaces, %d pods under %d top-level objects (%s), %d objects in all; %d violating (%s)",
		len(p.Namespaces), p.Pods, len(p.Units), describeKinds(p), p.Objects, p.Violating, describeViolations(p))

	var err error
	// Before anything else runs in this process, so that its heap is quiet.
	b.say("measuring what audit.Transform keeps of each object (the background audit's informer store)")
	if b.store, err = measureStoreCost(p); err != nil {
		return err
	}
	b.say("  %.1f KB per object transformed, %.1f KB typed as written; %.0f MiB for the %d objects",
		b.store.Transformed/1000, b.store.Typed/1000, b.store.TransformedMiB, b.store.Objects)
	if b.dir, err = os.MkdirTemp("", "sealgate-benchaudit-"); err != nil {
		return err
	}
	if b.bin = b.o.Sealgate; b.bin == "" {
		b.say("building sealgate from this checkout")
		if b.bin, err = cluster.BuildSealgate(ctx, b.dir); err != nil {
			return err
		}
	}
	b.say("starting kube-apiserver and etcd (test/cluster)")
	if b.c, err = cluster.Start(b.dir); err != nil {
		return err
	}
	b.env.apiServer = serverVersion(b.c)
	if err := b.create(ctx); err != nil {
		return err
	}
	if b.podBytes, err = samplePodSize(ctx, b.c, p.Units); err != nil {
		return err
	}
	b.say("applying the policies of %s", b.o.Policies)
	if out, errOut, err := b.c.Kubectl(ctx, "", "apply", "-f", b.o.Policies); err != nil {
		return fmt.Errorf("kubectl apply -f %s: %w\n%s%s", b.o.Policies, err, out, errOut)
	}

	// First a serve without the background audit, for comparison; it also registers the webhook
	// configuration, whose selectors the CLI reads, as in a real cluster.
	hasAudit, err := serveHasAudit(ctx, b.bin)
	if err != nil {
		return err
	}
	if b.serveOff, err = b.measureServe(ctx, serveConfig{hasAuditFlag: hasAudit}); err != nil {
		return err
	}
	b.env.loadBeforeAudits = benchdoc.LoadAverage()
	if err := b.measureCLI(ctx); err != nil {
		return err
	}
	if !hasAudit {
		b.serveNote = "this build of `sealgate serve` has no --audit flag, so the background audit was not measured"
		b.say("%s", b.serveNote)
	} else {
		want := &b.cli[0].out
		if b.serveOn, err = b.measureServe(ctx, serveConfig{audit: true, hasAuditFlag: true, want: want}); err != nil {
			return err
		}
		if b.o.MemLimit != "" {
			if b.serveLim, err = b.measureServe(ctx, serveConfig{audit: true, hasAuditFlag: true, want: want, memLimit: b.o.MemLimit}); err != nil {
				return err
			}
		}
	}
	b.env.loadAfter = benchdoc.LoadAverage()

	md := b.markdown()
	fmt.Print(md)
	if b.o.Out != "" {
		if err := region.Write(b.o.Out, md); err != nil {
			return err
		}
		b.say("wrote the audit-scale region of %s", b.o.Out)
	}
	if problems := b.problems(); len(problems) > 0 {
		return errors.New("the figures are written, but:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

// problems are what makes the run not count: an audit that did not find what the plan put there.
func (b *bench) problems() []string {
	var out []string
	for i, r := range b.cli {
		if got := len(r.out.Results); got != b.plan.Violating {
			out = append(out, fmt.Sprintf("`sealgate audit` run %d reported %d violating objects; the plan has %d", i+1, got, b.plan.Violating))
		}
	}
	for _, r := range []*serveRun{b.serveOn, b.serveLim} {
		if r != nil && !r.Matched {
			out = append(out, "the background audit's summary report never matched the CLI's findings: "+r.lastDiff)
		}
	}
	return out
}

func (b *bench) cleanup() {
	for _, s := range b.serve {
		_ = s.Stop()
	}
	if b.c != nil {
		b.say("stopping the control plane")
		if err := b.c.Stop(); err != nil {
			b.say("stopping the control plane: %v", err)
		}
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
