// Command devcluster runs sealgate against a real local control plane: kube-apiserver and etcd on
// loopback (test/cluster, the harness the end-to-end suite uses), bin/sealgate registered as the
// webhook, the example policies and namespaces applied with the real kubectl.
//
//	devcluster --mode demo   apply each example workload, print kubectl's answer and a verdict,
//	                         then audit what was running before the policies; exit 1 if a verdict
//	                         differs from what the examples intend (make demo)
//	devcluster --mode dev    print the kubeconfig and metrics URL, run until Ctrl-C (make dev-cluster)
//
// --sealgate names the binary to run (default bin/sealgate). Everything it starts (sealgate,
// kube-apiserver, etcd, temporary directories) is stopped on exit, on error and on Ctrl-C. The tools
// must be in ./bin: the make targets run `hack/tools.sh kube-apiserver kubectl etcd` and `make build` first.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	policystatus "github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/test/cluster"
)

const (
	policiesDir  = "examples/policies"
	workloadsDir = "examples/workloads"
	// exceptionsDir holds the PolicyException the demo applies after the workloads.
	exceptionsDir = "examples/exceptions"
	// runningDir holds workloads created before sealgate and its policies: what the audit finds.
	runningDir    = "examples/running"
	namespaceFile = "examples/workloads/00-namespaces.yaml"
)

// verdict is what the API server answered to one `kubectl apply`.
type verdict string

const (
	admitted     verdict = "ADMITTED"
	admittedWarn verdict = "ADMITTED with warnings"
	denied       verdict = "DENIED"
	failed       verdict = "ERROR" // kubectl failed for another reason than a denial
)

// intended is what each example workload is written to show (see the comment at the top of each
// file). A workload added to examples/workloads needs a line here, and in examples/sealgate-test.yaml
// (run offline by make test).
var intended = map[string]verdict{
	"batch-job.yaml":            admitted,
	"web-deployment.yaml":       admitted,
	"latest-pod.yaml":           admittedWarn,
	"privileged-pod.yaml":       denied,
	"report-cronjob.yaml":       denied,
	"node-agent-daemonset.yaml": denied,
}

// intendedAudit is what `sealgate audit` is written to find among what was running before the
// policies: each object the policies would deny today, through its top owner.
var intendedAudit = []string{"Deployment dev/legacy-agent (0 pods): DENIED", "Pod prod/old-api (1 pod): DENIED"}

func main() { os.Exit(run()) }

func run() int {
	mode := flag.String("mode", "demo", "demo: apply the example workloads and check the verdicts; dev: keep the cluster up until Ctrl-C")
	sealgateBin := flag.String("sealgate", "bin/sealgate", "the sealgate binary to run as the webhook")
	flag.Parse()
	if *mode != "demo" && *mode != "dev" {
		fmt.Fprintf(os.Stderr, "devcluster: --mode must be demo or dev, not %q\n", *mode)
		return 2
	}
	// envtest and controller-runtime log through this logger; the screen is for people.
	ctrllog.SetLogger(logr.Discard())

	bin, err := filepath.Abs(*sealgateBin)
	if err == nil {
		err = os.Chdir(cluster.Root()) // so that paths print as the examples' relative paths
	}
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v (make build builds bin/sealgate)\n", err)
		return 2
	}

	// Ctrl-C, SIGTERM and a closed terminal cancel ctx, and everything started is then stopped. A
	// closed stdout (`make demo | head`) must not kill the process before it stops its children:
	// with SIGPIPE caught, writes just fail.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	d := &devCluster{mode: *mode, sealgateBin: bin, start: time.Now()}
	defer func() {
		if r := recover(); r != nil {
			d.stop(true)
			panic(r)
		}
	}()
	err = d.run(ctx)
	d.stop(err != nil && ctx.Err() == nil)
	switch {
	case ctx.Err() != nil && *mode == "dev":
		return 0 // Ctrl-C is how a dev cluster ends
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "devcluster: interrupted")
		return 130
	case err != nil:
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		return 1
	}
	return 0
}

type devCluster struct {
	mode        string
	sealgateBin string
	start       time.Time
	dir         string
	c           *cluster.Cluster
	sg          *cluster.Sealgate
}

func (d *devCluster) run(ctx context.Context) error {
	if err := d.up(ctx); err != nil {
		return err
	}
	if d.mode == "dev" {
		return d.serve(ctx)
	}
	return d.demo(ctx)
}

// up starts the control plane and sealgate, creates the example namespaces and applies the example
// policies, and waits until sealgate reports every policy in force.
func (d *devCluster) up(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "sealgate-"+d.mode+"-"); err != nil {
		return err
	}
	fmt.Println("== A local cluster: kube-apiserver and etcd on loopback, " + rel(d.sealgateBin) + " as its webhook")

	t := step("control plane")
	if d.c, err = cluster.Start(d.dir); err != nil {
		return lineErr(err)
	}
	version := "kube-apiserver"
	if dc, err := discovery.NewDiscoveryClientForConfig(d.c.Config); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			version += " " + v.GitVersion
		}
	}
	done(t, "%s and etcd, %s", version, strings.TrimSuffix(d.c.Config.Host, "/"))
	if err := ctx.Err(); err != nil {
		return err
	}

	// Namespaces are not pod-bearing: the webhook never sees them, so they go in first.
	t = step("namespaces")
	out, err := d.kubectl(ctx, "apply", "-f", namespaceFile, "-o", "name")
	if err != nil {
		return lineErr(fmt.Errorf("kubectl apply -f %s: %v\n%s", namespaceFile, err, out))
	}
	var nss []string
	for _, name := range strings.Fields(out) {
		name = strings.TrimPrefix(name, "namespace/")
		var ns corev1.Namespace
		if err := d.c.Client.Get(ctx, client.ObjectKey{Name: name}, &ns); err == nil {
			name += labelSuffix(ns.Labels)
		}
		nss = append(nss, name)
	}
	done(t, "%s", strings.Join(nss, ", "))

	// Workloads from before sealgate: admitted unchecked, as in a cluster that adopts it.
	t = step("running")
	out, err = d.kubectl(ctx, "apply", "-f", runningDir, "-o", "name")
	if err != nil {
		return lineErr(fmt.Errorf("kubectl apply -f %s: %v\n%s", runningDir, err, out))
	}
	done(t, "%s, created before any policy", strings.Join(strings.Fields(out), ", "))

	t = step("sealgate")
	if d.sg, err = d.c.StartSealgate(ctx, d.sealgateBin); err != nil {
		return lineErr(err)
	}
	done(t, "webhook at https://localhost:%d, CA bundle injected", d.sg.Port)

	t = step("policies")
	out, err = d.kubectl(ctx, "apply", "-f", policiesDir)
	if err != nil {
		return lineErr(fmt.Errorf("kubectl apply -f %s: %v\n%s", policiesDir, err, out))
	}
	pols, err := d.waitPolicies(ctx)
	if err != nil {
		return lineErr(err)
	}
	done(t, "%s", pols)
	// The policy webhook's what-if: what each new policy would deny among what is running.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Warning: ") {
			fmt.Printf("   %-14s %s\n", "", line)
		}
	}
	fmt.Println()
	return nil
}

// waitPolicies waits until every policy reports Ready=True for its current generation and returns
// them grouped by mode: "Enforce: baseline, production; Warn: warn-latest; Audit: audit-digests".
func (d *devCluster) waitPolicies(ctx context.Context) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list v1alpha1.ClusterAdmissionPolicyList
		var pending []string
		byMode := map[v1alpha1.Mode][]string{}
		err := d.c.Client.List(ctx, &list)
		for _, p := range list.Items {
			cond := apimeta.FindStatusCondition(p.Status.Conditions, policystatus.ConditionReady)
			switch {
			case cond != nil && cond.ObservedGeneration == p.Generation && cond.Status == metav1.ConditionFalse:
				return "", fmt.Errorf("policy %s is not in force: %s", p.Name, cond.Message)
			case cond == nil || cond.ObservedGeneration != p.Generation || cond.Status != metav1.ConditionTrue:
				pending = append(pending, p.Name)
			}
			byMode[p.Spec.Mode] = append(byMode[p.Spec.Mode], p.Name)
		}
		if err == nil && len(list.Items) > 0 && len(pending) == 0 {
			var groups []string
			for _, m := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeWarn, v1alpha1.ModeAudit} {
				if len(byMode[m]) > 0 {
					sort.Strings(byMode[m])
					groups = append(groups, fmt.Sprintf("%s: %s", m, strings.Join(byMode[m], ", ")))
				}
			}
			return strings.Join(groups, "; "), nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still pending: %s", strings.Join(pending, ", "))
			}
			return "", fmt.Errorf("the policies were not in force within 30s: %w", err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// demo applies each example workload with kubectl and compares the verdicts with the intended ones.
func (d *devCluster) demo(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(workloadsDir, "*.yaml"))
	if err != nil {
		return err
	}
	fmt.Println("== The example workloads, one kubectl apply each")
	counts := map[verdict]int{}
	var wrong []string
	for _, f := range files {
		if f == namespaceFile {
			continue
		}
		fmt.Printf("\n$ kubectl apply -f %s\n", f)
		out, err := d.kubectl(ctx, "apply", "-f", f)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Print(out)
		got := classify(out, err)
		counts[got]++
		want, known := intended[filepath.Base(f)]
		switch {
		case !known:
			fmt.Printf("   -> %s, but no verdict is recorded for this example (hack/devcluster: intended)\n", got)
			wrong = append(wrong, fmt.Sprintf("%s: %s, no intended verdict recorded", f, got))
		case got != want:
			fmt.Printf("   -> %s, but the example intends %s\n", got, want)
			wrong = append(wrong, fmt.Sprintf("%s: %s, intended %s", f, got, want))
		default:
			fmt.Printf("   -> %s\n", got)
		}
	}
	for name := range intended {
		if _, err := os.Stat(filepath.Join(workloadsDir, name)); err != nil {
			wrong = append(wrong, fmt.Sprintf("%s/%s: intended %s, but the file is missing", workloadsDir, name, intended[name]))
		}
	}
	wrong = append(wrong, d.exception(ctx)...)
	wrong = append(wrong, d.audit(ctx)...)
	total := counts[admitted] + counts[admittedWarn] + counts[denied] + counts[failed]
	summary := fmt.Sprintf("%d workloads: %d admitted, %d admitted with warnings, %d denied", total,
		counts[admitted], counts[admittedWarn], counts[denied])
	if counts[failed] > 0 {
		summary += fmt.Sprintf(", %d errors", counts[failed])
	}
	fmt.Printf("\n== Summary: %s (%.1fs)\n", summary, time.Since(d.start).Seconds())
	if len(wrong) > 0 {
		fmt.Printf("   %d verdicts differ from what the examples intend:\n", len(wrong))
		for _, w := range wrong {
			fmt.Printf("     %s\n", w)
		}
		return errors.New("sealgate's verdicts differ from the examples' intent")
	}
	fmt.Println("   every verdict is the one the examples intend")
	return nil
}

// exception applies the example PolicyException, waits until sealgate puts it in force, and applies
// the workload it covers again: admitted now, with a warning naming the exception. It returns what
// differs from that.
func (d *devCluster) exception(ctx context.Context) []string {
	const waived = "node-agent-daemonset.yaml"
	fmt.Printf("\n== A PolicyException waives two checks for the node agent, and nothing else\n\n$ kubectl apply -f %s\n", exceptionsDir)
	out, err := d.kubectl(ctx, "apply", "-f", exceptionsDir)
	fmt.Print(out)
	if err != nil {
		return []string{fmt.Sprintf("kubectl apply -f %s: %v", exceptionsDir, err)}
	}
	if err := d.waitExceptions(ctx); err != nil {
		fmt.Printf("   -> %v\n", err)
		return []string{err.Error()}
	}
	fmt.Println("   -> Ready: in force")
	f := filepath.Join(workloadsDir, waived)
	fmt.Printf("\n$ kubectl apply -f %s\n", f)
	out, err = d.kubectl(ctx, "apply", "-f", f)
	fmt.Print(out)
	got := classify(out, err)
	if got != admittedWarn || !strings.Contains(out, "node-agent-hostnetwork") {
		fmt.Printf("   -> %s, but the exception should admit it with a warning naming it\n", got)
		return []string{fmt.Sprintf("%s with the exception: %s, intended %s naming the exception", f, got, admittedWarn)}
	}
	fmt.Printf("   -> %s: the waived violations are still reported, marked excepted\n", got)
	return nil
}

// waitExceptions waits until every PolicyException of sealgate's namespace reports Ready=True for its
// current generation.
func (d *devCluster) waitExceptions(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list v1alpha1.PolicyExceptionList
		err := d.c.Client.List(ctx, &list, client.InNamespace(cluster.Namespace))
		ready := err == nil && len(list.Items) > 0
		for _, x := range list.Items {
			cond := apimeta.FindStatusCondition(x.Status.Conditions, policystatus.ConditionReady)
			switch {
			case cond != nil && cond.ObservedGeneration == x.Generation && cond.Status == metav1.ConditionFalse:
				return fmt.Errorf("exception %s is not in force: %s", x.Name, cond.Message)
			case cond == nil || cond.ObservedGeneration != x.Generation || cond.Status != metav1.ConditionTrue:
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the exceptions were not in force within 30s (%v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// audit runs `sealgate audit` against the cluster: what the policies would deny among what is
// running, the objects created before them above all. It returns what differs from intendedAudit.
func (d *devCluster) audit(ctx context.Context) []string {
	fmt.Printf("\n== What the policies find among what is already running\n\n$ sealgate audit\n")
	cmd := exec.CommandContext(ctx, d.sealgateBin, "audit", "--kubeconfig", d.c.Kubeconfig, "--sealgate-namespace", cluster.Namespace)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	fmt.Print(out.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		return []string{fmt.Sprintf("sealgate audit: want exit status 1 (something running would be denied), got %v", err)}
	}
	var wrong []string
	for _, want := range intendedAudit {
		if !strings.Contains(out.String(), want) {
			wrong = append(wrong, fmt.Sprintf("sealgate audit: does not report %q", want))
		}
	}
	return wrong
}

// classify reads kubectl's exit status and combined output.
func classify(out string, err error) verdict {
	switch {
	case err != nil && strings.Contains(out, "denied the request"):
		return denied
	case err != nil:
		return failed
	case strings.Contains(out, "Warning: "):
		return admittedWarn
	}
	return admitted
}

// serve prints how to use the cluster and waits for Ctrl-C, or for sealgate or the API server to stop
// answering.
func (d *devCluster) serve(ctx context.Context) error {
	fmt.Println("== Ready: sealgate enforces the example policies on this cluster")
	fmt.Printf("   %-12s %s\n", "kubeconfig", d.c.Kubeconfig)
	fmt.Printf("   %-12s %s\n", "metrics", "http://"+d.sg.MetricsAddr+"/metrics")
	fmt.Printf("   %-12s %s\n", "try", "bin/kubectl get cap; bin/kubectl apply -f examples/workloads/privileged-pod.yaml")
	fmt.Println()
	fmt.Printf("export KUBECONFIG=%s\n", d.c.Kubeconfig)
	fmt.Println()
	fmt.Println("Press Ctrl-C to stop the cluster.")

	hc := &http.Client{Timeout: 2 * time.Second}
	dc, err := discovery.NewDiscoveryClientForConfig(d.c.Config)
	if err != nil {
		return err
	}
	failures := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nStopping sealgate, kube-apiserver and etcd...")
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		problem := ""
		if resp, err := hc.Get("http://" + d.sg.HealthAddr + "/healthz"); err != nil {
			problem = "sealgate: " + err.Error()
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				problem = "sealgate /healthz: " + resp.Status
			}
		}
		if problem == "" {
			if _, err := dc.ServerVersion(); err != nil {
				problem = "kube-apiserver: " + err.Error()
			}
		}
		if problem == "" {
			failures = 0
			continue
		}
		if failures++; failures == 3 {
			return fmt.Errorf("the cluster stopped answering: %s", problem)
		}
	}
}

// stop stops sealgate, then the control plane, then removes the temporary directory. After a
// failure it prints sealgate's log.
func (d *devCluster) stop(failed bool) {
	if d.sg != nil {
		_ = d.sg.Stop()
		if failed {
			fmt.Fprintf(os.Stderr, "\nsealgate log:\n%s\n", indent(d.sg.Log.String()))
		}
	}
	if d.c != nil {
		if err := d.c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "devcluster: stopping kube-apiserver and etcd: %v\n", err)
		}
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
	if d.mode == "dev" && d.c != nil {
		fmt.Println("Stopped; removed " + d.dir)
	}
}

// kubectl runs bin/kubectl against the cluster and returns its stdout and stderr interleaved, as a
// terminal would show them.
func (d *devCluster) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join("bin", "kubectl"), append([]string{"--kubeconfig", d.c.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// step starts a line of the start-up table, so that the wait shows what it is waiting for; done
// finishes the line with what the step brought up and how long it took.
func step(label string) time.Time {
	fmt.Printf("   %-14s ", label)
	return time.Now()
}

func done(start time.Time, format string, args ...any) {
	fmt.Printf("%-70s %4.1fs\n", fmt.Sprintf(format, args...), time.Since(start).Seconds())
}

// lineErr ends a step's line before its error is reported.
func lineErr(err error) error {
	fmt.Println("failed")
	return err
}

func rel(path string) string {
	if r, err := filepath.Rel(cluster.Root(), path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func labelSuffix(labels map[string]string) string {
	var kv []string
	for k, v := range labels {
		if k != "kubernetes.io/metadata.name" {
			kv = append(kv, k+"="+v)
		}
	}
	if len(kv) == 0 {
		return ""
	}
	sort.Strings(kv)
	return " (" + strings.Join(kv, ",") + ")"
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "   (empty)"
	}
	return "   " + strings.ReplaceAll(s, "\n", "\n   ")
}
