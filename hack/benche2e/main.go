// Command benche2e is `make bench-e2e`: sealgate side by side with its peers over real HTTPS, and
// through a real kube-apiserver. It is a benchmark, not a test: it measures and writes its region of
// docs/performance.md, and fails only when something does not run.
//
// Direct HTTPS: the floor (hack/benche2e/floor, a TLS server that answers without decoding),
// `sealgate serve`, the upstream Pod Security Admission webhook and an OPA evaluation of the same
// rules in Rego (hack/benche2e/rego), all with PSS restricted (latest), each started here on
// 127.0.0.1. One load generator drives each with keep-alive HTTPS at each concurrency, in alternating
// rounds (A B C D A B C D ...) so that drift on the machine spreads over all of them, alternating
// the allowed and the denied AdmissionReview that the local API server sent (captured at the start;
// -bodies testdata reuses the committed copies).
//
// Through the API server: dryRun=All creates of the allowed pod from -api-clients clients, in
// alternating rounds, with no admission, the built-in PSA (namespace label), the sealgate webhook,
// the upstream PSA webhook and, when `sealgate vap` compiles the policy, sealgate's generated
// ValidatingAdmissionPolicy.
//
// The binaries come from ./bin (-bin): sealgate, benche2e-floor, benche2e-rego,
// pod-security-webhook, and the control plane's kube-apiserver, etcd and kubectl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sealgate/sealgate/hack/internal/benchdoc"
	"github.com/sealgate/sealgate/test/cluster"
)

type options struct {
	bin, out, bodies string
	saveBodies       bool
	rounds           int
	duration         time.Duration
	concs            []int
	servers          []string
	api              bool
	apiRounds        int
	apiDuration      time.Duration
	apiClients       int
	profile          string
	baseline         string
}

func main() {
	var o options
	var concs, servers string
	flag.StringVar(&o.bin, "bin", "bin", "directory of the binaries")
	flag.StringVar(&o.out, "out", benchdoc.PerformanceDoc, "file whose bench-e2e region is rewritten (empty: print the region only)")
	flag.StringVar(&o.bodies, "bodies", "capture", "AdmissionReview bodies: capture (from the local API server) or testdata (hack/benche2e/testdata)")
	flag.BoolVar(&o.saveBodies, "save-bodies", false, "write the captured bodies to hack/benche2e/testdata")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per server and concurrency (direct HTTPS)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one round (direct HTTPS)")
	flag.StringVar(&concs, "c", "1,8,32", "concurrencies (direct HTTPS), comma-separated")
	flag.StringVar(&servers, "servers", "floor,floor-json,sealgate,psa-webhook,rego", "servers measured directly, comma-separated; the first is the floor the ratios are to")
	flag.BoolVar(&o.api, "api", true, "also measure through the API server")
	flag.IntVar(&o.apiRounds, "api-rounds", 3, "rounds per admission (through the API server)")
	flag.DurationVar(&o.apiDuration, "api-duration", 8*time.Second, "length of one round (through the API server)")
	flag.IntVar(&o.apiClients, "api-clients", 8, "concurrent clients (through the API server)")
	flag.StringVar(&o.baseline, "baseline", "", "a sealgate binary built from another commit, measured as sealgate-baseline beside sealgate (make bench-e2e BENCH_E2E_BASELINE=REV builds it)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of sealgate's last round at each concurrency and through the API server (figures then include the profiler's cost)")
	flag.Parse()
	for _, f := range strings.Split(concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benche2e: -c: %q is not a positive number; e.g. -c 1,8,32\n", f)
			os.Exit(2)
		}
		o.concs = append(o.concs, n)
	}
	o.servers = strings.Split(servers, ",")
	if o.baseline != "" {
		if i := slices.Index(o.servers, "sealgate"); i < 0 {
			fmt.Fprintf(os.Stderr, "benche2e: -baseline needs sealgate among -servers\n")
			os.Exit(2)
		} else {
			o.servers = slices.Insert(o.servers, i+1, "sealgate-baseline")
		}
	}
	if o.bodies != "capture" && o.bodies != "testdata" {
		fmt.Fprintf(os.Stderr, "benche2e: -bodies: %q: want capture or testdata\n", o.bodies)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "benche2e: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benche2e: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (err error) {
	env := env{Machine: benchdoc.ReadMachine()}
	dir, err := os.MkdirTemp("", "benche2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cs, err := makeCerts(dir)
	if err != nil {
		return fmt.Errorf("making certificates: %w", err)
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	logf("starting kube-apiserver and etcd")
	c, err := cluster.Start(dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	if err := c.EnsureNamespace(ctx, captureNamespace, map[string]string{benchLabel: "capture"}); err != nil {
		return err
	}

	var bodies [2][]byte
	if o.bodies == "capture" {
		if bodies, err = capture(ctx, c, cs); err != nil {
			return err
		}
		env.bodies = fmt.Sprintf("captured from the local API server in this run (%s and %s bytes)", benchdoc.Thousands(int64(len(bodies[0]))), benchdoc.Thousands(int64(len(bodies[1]))))
		if o.saveBodies {
			if err := saveBodies(bodies); err != nil {
				return err
			}
		}
	} else {
		if bodies, err = loadBodies(); err != nil {
			return err
		}
		env.bodies = fmt.Sprintf("hack/benche2e/testdata (%s and %s bytes), captured from a local API server earlier", benchdoc.Thousands(int64(len(bodies[0]))), benchdoc.Thousands(int64(len(bodies[1]))))
	}

	if o.baseline != "" {
		out, err := exec.Command(o.baseline, "version").Output()
		if err != nil {
			return fmt.Errorf("-baseline %s: %w", o.baseline, err)
		}
		env.baseline = strings.TrimSpace(string(out))
		if f := strings.Fields(env.baseline); len(f) >= 2 {
			env.baseline = f[1] // "sealgate <version> (commit …, go…)"
		}
	}
	hc := newClient(cs.pool, 1)
	hc.Timeout = 2 * time.Second
	servers, err := startServers(o.servers, bin, o.baseline, dir, c.Kubeconfig, cs, hc, o.profile != "")
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	byName := map[string]*server{}
	for _, s := range servers {
		byName[s.name] = s
	}
	// Each server's verdicts on the two bodies, before any load: a peer that disagrees is not
	// measuring the same thing.
	for _, s := range servers {
		okA, deniedA := post(hc, s.url, bodies[0])
		okD, deniedD := post(hc, s.url, bodies[1])
		if !okA || !okD || (s.verdicts && (deniedA || !deniedD)) {
			return fmt.Errorf("%s answers the allowed body ok=%v denied=%v and the denied body ok=%v denied=%v; its log: %s",
				s.name, okA, deniedA, okD, deniedD, tail(s.log))
		}
	}

	env.loadBefore = benchdoc.LoadAverage()
	logf("direct HTTPS: %d rounds of %s per server at c=%v", o.rounds, o.duration, o.concs)
	cells, idle, err := direct(ctx, servers, cs.pool, bodies, o.concs, o.rounds, o.duration, o.profile, logf)
	if err != nil {
		return err
	}
	var ads []*admission
	var apiNote string
	if o.api {
		vap, err := sealgateVAP(bin, dir)
		if err != nil {
			return err
		}
		if ads, apiNote, err = setupAdmissions(ctx, c, cs, byName, vap); err != nil {
			return err
		}
		logf("through the API server: %d rounds of %s per admission, %d clients", o.apiRounds, o.apiDuration, o.apiClients)
		if err := throughAPIServer(ctx, c, ads, byName, o.apiClients, o.apiRounds, o.apiDuration, o.profile, logf); err != nil {
			return err
		}
	}
	env.loadAfter = benchdoc.LoadAverage()

	text := report(env, o, servers, cells, idle, ads, apiNote)
	if o.out == "" {
		fmt.Print(text)
		return nil
	}
	if err := region.Write(o.out, text); err != nil {
		return err
	}
	logf("wrote %s", o.out)
	return nil
}

// testdata is where the captured bodies are kept, relative to the repository root.
var testdataFiles = [2]string{"hack/benche2e/testdata/review-allowed.json", "hack/benche2e/testdata/review-denied.json"}

func saveBodies(b [2][]byte) error {
	for i, f := range testdataFiles {
		p := filepath.Join(cluster.Root(), f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b[i], 0o644); err != nil {
			return err
		}
		logf("wrote %s", f)
	}
	return nil
}

func loadBodies() ([2][]byte, error) {
	var b [2][]byte
	for i, f := range testdataFiles {
		var err error
		if b[i], err = os.ReadFile(filepath.Join(cluster.Root(), f)); err != nil {
			return b, fmt.Errorf("-bodies testdata: %w (run once with -save-bodies to capture them)", err)
		}
	}
	return b, nil
}
