package main

import (
	"github.com/sealgate/sealgate/hack/internal/benchdoc"

	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

const (
	regionBegin   = "<!-- bench-e2e:begin -->"
	regionEnd     = "<!-- bench-e2e:end -->"
	regionHeading = "## Side by side (make bench-e2e)"
)

// env is the machine and the run, for the report's header.
type env struct {
	benchdoc.Machine
	loadBefore, loadAfter string
	bodies                string
	baseline              string // `sealgate version` of -baseline, if given
}

// versions of what is measured: the tools' stamps in ./bin and OPA's version in the rego module.
func versions(bin string) string {
	stamp := func(name string) string {
		b, err := os.ReadFile(filepath.Join(bin, ".stamps", name))
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(b))
	}
	opa := "unknown"
	if b, err := os.ReadFile(filepath.Join(cluster.Root(), "hack/benche2e/rego/go.mod")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && (f[0] == "github.com/open-policy-agent/opa" || (len(f) >= 3 && f[1] == "github.com/open-policy-agent/opa")) {
				opa = f[len(f)-1]
			}
		}
	}
	return fmt.Sprintf("k8s.io/pod-security-admission %s (cmd/webhook); OPA %s; kube-apiserver %s", stamp("pod-security-webhook"), opa, stamp("kube-apiserver"))
}

// peers says what each server is and how it is configured.
// (Written with ' for the backquote, which a raw string cannot hold.)
var peers = strings.ReplaceAll(`What is measured, every server with the Pod Security Standards at the restricted level, latest
version, enforced:

- **floor**: 'hack/benche2e/floor', a TLS server that reads each body fully and answers allowed without
  decoding anything (it copies the uid of the request into a fixed AdmissionReview); nothing over the same
  TLS and HTTP stack is faster. Like sealgate, it speaks HTTP/1.1 only, which is what the API server
  uses for every webhook behind a Service.
- **floor-json**: the floor that also checks, before answering, that the body is one valid JSON value
  (jsontext, with the decoder options sealgate uses) and builds nothing: the least any webhook that reads
  its input as JSON must spend, whatever it then does.
- **sealgate**: 'sealgate serve' with one ClusterAdmissionPolicy ('podSecurity: {level: restricted,
  version: latest}') from a file, external certificates, audit and leader election off, and
  'GOMEMLIMIT=460MiB', the soft limit it takes under the default memory limit of the chart (512Mi), under
  which it collects garbage less often ('GOGC=400').
- **psa-webhook**: the upstream Pod Security Admission webhook ('k8s.io/pod-security-admission/cmd/webhook',
  built by 'hack/tools.sh pod-security-webhook'), its PodSecurityConfiguration defaulting every
  namespace to enforce restricted, latest; it reads namespace labels from the local API server. It
  offers HTTP/2, which the API server uses for a webhook URL on loopback, as here (behind a Service it
  would use HTTP/1.1).
- **rego**: 'hack/benche2e/rego' (its own Go module), an OPA evaluation of 'pss.rego', a Rego
  translation of the restricted checks written the way a Gatekeeper ConstraintTemplate would be, with the
  whole AdmissionReview as input. It covers the baseline checks (host namespaces, hostProcess, privileged,
  added capabilities beyond the baseline set, hostPath volumes, host ports, AppArmor annotations and
  profiles, SELinux type, user and role, procMount, unsafe sysctls) and the restricted ones (volume types,
  allowPrivilegeEscalation, runAsNonRoot, runAsUser 0, seccomp RuntimeDefault or Localhost, drop ALL and
  add only NET_BIND_SERVICE). It leaves out what the upstream checks do per version (it is latest only)
  and the relaxations for 'spec.os.name: windows'; its messages are terse.
`, "'", "`")

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%s µs", benchdoc.Thousands(d.Microseconds())) }

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// report is the region of docs/performance.md, markers included.
func report(e env, o options, servers []*server, cells map[int]map[string]*cell, idle map[string]uint64, ads []*admission, apiNote string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n", regionBegin)
	w("Written by `make bench-e2e` (`hack/benche2e`); do not edit by hand. One run on one machine: read the\n")
	w("ratios, which are measured in the same run, rather than the absolute figures.\n\n")
	w("| | |\n|---|---|\n")
	w("| Date | %s |\n| Commit | %s |\n| CPU | %s, %d cores |\n| Memory | %s |\n", e.Date, e.Commit, e.CPU, e.Cores, e.Memory)
	w("| Load average (1, 5, 15 min) | before %s; after %s |\n| Go | %s |\n| Peers | %s |\n", e.loadBefore, e.loadAfter, e.Go, versions(o.bin))
	w("| Bodies | %s |\n", e.bodies)
	w("| Direct HTTPS | %d rounds of %s per server and concurrency, servers alternating |\n", o.rounds, o.duration)
	if len(ads) > 0 {
		w("| Through the API server | a warm-up round, then %d rounds of %s per admission, %d clients, admissions alternating (each round starting one later) |\n", o.apiRounds, o.apiDuration, o.apiClients)
	}
	w("\n%s", peers)
	if e.baseline != "" {
		w("- **sealgate-baseline**: the same as sealgate, with the binary built from an earlier commit (%s), by\n", e.baseline)
		w("  `make bench-e2e BENCH_E2E_BASELINE=<rev>`: before and after in one run. Through the API server it\n")
		w("  gets the same matchConditions as sealgate.\n")
	}
	w("\n")
	if g := goalsTable(goals(o, cells, ads)); g != "" {
		w("\n%s", g)
	}
	w("\n### Direct HTTPS\n\n")
	w("Keep-alive HTTPS/1.1, one connection per client, the allowed and the denied AdmissionReview\n")
	w("alternating. CPU / req is the server's user+system time over its rounds (`/proc/<pid>/stat`) divided\n")
	w("by its requests. × floor is throughput as a fraction of the floor's. The load generator runs on the same\n")
	w("cores as the server, as the API server would, so a server that needs less CPU leaves more to its client.\n\n")
	floor := servers[0].name
	for _, c := range o.concs {
		w("**c=%d**\n\n| server | req/s | × %s | p50 | p99 | p99.9 | CPU / req | CPU × %s | errors |\n|---|---|---|---|---|---|---|---|---|\n", c, floor, floor)
		f := cells[c][floor]
		for _, s := range servers {
			x := cells[c][s.name]
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", s.name, benchdoc.Thousands(int64(x.rate())), ratio(x.rate(), f.rate()),
				ms(benchdoc.Percentile(x.lat, 0.50)), ms(benchdoc.Percentile(x.lat, 0.99)), ms(benchdoc.Percentile(x.lat, 0.999)),
				us(x.cpuPerRequest()), ratio(float64(x.cpuPerRequest()), float64(f.cpuPerRequest())), x.errors+x.wrong)
		}
		w("\n")
	}
	if s := cells[o.concs[0]]["sealgate"]; s != nil {
		w("**sealgate against each peer** (throughput ratio; CPU per request ratio, under 1 is less CPU)\n\n| peer |")
		for _, c := range o.concs {
			w(" c=%d req/s | c=%d CPU |", c, c)
		}
		w("\n|---|")
		for range o.concs {
			w("---|---|")
		}
		w("\n")
		for _, p := range servers {
			if p.name == "sealgate" {
				continue
			}
			w("| %s |", p.name)
			for _, c := range o.concs {
				sg, pc := cells[c]["sealgate"], cells[c][p.name]
				w(" %s | %s |", ratio(sg.rate(), pc.rate()), ratio(float64(sg.cpuPerRequest()), float64(pc.cpuPerRequest())))
			}
			w("\n")
		}
		w("\n")
	}
	top := o.concs[len(o.concs)-1]
	w("**Memory** (VmRSS after start and one request of each body; VmHWM, the peak, over the c=%d rounds)\n\n| server | RSS idle | peak RSS at c=%d |\n|---|---|---|\n", top, top)
	for _, s := range servers {
		w("| %s | %s | %s |\n", s.name, mib(idle[s.name]), mib(cells[top][s.name].peakRSS))
	}
	if len(ads) > 0 {
		w("\n### Through the API server\n\n")
		w("dryRun=All creates of the allowed pod (the same pod as the allowed body) from %d clients against the\n", o.apiClients)
		w("local kube-apiserver, each admission in its own namespace. Loss is the create throughput lost against\n")
		w("no admission. Denied pod is what a dryRun create of the denied pod got, to show the admission acts.\n\n")
		w("API server CPU and webhook CPU are each process's user+system time over the rounds, per create.\n")
		w("The admissions: **none**; **builtin-psa**, the API server's own Pod Security admission, by namespace\n")
		w("label; **floor**, the floor server as a webhook, which admits everything without reading it: its loss\n")
		w("is what calling any webhook costs the API server, the least any webhook can lose;\n")
		w("**sealgate**, its webhook with the matchConditions cluster mode generates from the policy;\n")
		w("**sealgate-unmatched**, the same webhook in a namespace the policy excludes, where those conditions keep\n")
		w("the API server from calling it; **psa-webhook**, the upstream webhook; **sealgate-vap**, only the\n")
		w("ValidatingAdmissionPolicy `sealgate vap` compiles from the policy (every check exact), which is also\n")
		w("what a policy with `spec.fallback` costs once it is synced: the webhook is then not called for it.\n\n")
		w("| admission | creates/s | p50 | p99 | loss against none | API server CPU / create | webhook CPU / create | denied pod | errors |\n|---|---|---|---|---|---|---|---|---|\n")
		none := ads[0].cell.rate()
		for _, a := range ads {
			loss := "–"
			if a.name != "none" && none > 0 {
				loss = fmt.Sprintf("%.0f%%", 100*(1-a.cell.rate()/none))
			}
			perCreate := func(d time.Duration) string {
				if d == 0 || a.cell.requests == 0 {
					return "–"
				}
				return us(d / time.Duration(a.cell.requests))
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", a.name, benchdoc.Thousands(int64(a.cell.rate())), ms(benchdoc.Percentile(a.cell.lat, 0.50)),
				ms(benchdoc.Percentile(a.cell.lat, 0.99)), loss, perCreate(a.apiCPU), perCreate(a.webhookCPU), a.check, a.cell.errors)
		}
		if floor := apiCell(ads, "floor"); floor != nil && none > 0 {
			floorLoss := 1 - floor.rate()/none
			var parts []string
			for _, a := range ads {
				if a.webhook != 0 && a.name != "floor" && a.name != "sealgate-unmatched" {
					parts = append(parts, fmt.Sprintf("%s %+.0f points", a.name, 100*(1-a.cell.rate()/none-floorLoss)))
				}
			}
			if len(parts) > 0 {
				w("\nLoss beyond the floor webhook's %.0f%%, which is what the API server spends calling any webhook: %s.\n",
					100*floorLoss, strings.Join(parts, ", "))
			}
		}
		if apiNote != "" {
			w("\n%s\n", apiNote)
		}
	}
	w("\nRerun: `make bench-e2e` (about 6 minutes with the defaults, plus the first build of the peers); shorter:\n")
	w("`make bench-e2e BENCH_E2E_FLAGS=\"-rounds 2 -duration 3s -api-rounds 2 -api-duration 4s\"`;\n")
	w("`-bodies testdata` reuses the committed bodies instead of capturing them, `-out \"\"` prints this section only.\n")
	w("`make bench-e2e BENCH_E2E_BASELINE=<rev>` adds sealgate as built at an earlier commit, alternating with\n")
	w("this one. `-profile DIR` writes CPU profiles of sealgate's last round at each concurrency and through the\n")
	w("API server (`sealgate serve --profiling-bind-address`), for `go tool pprof`.\n")
	w("%s\n", regionEnd)
	return b.String()
}

// region is this program's part of docs/performance.md.
var region = benchdoc.Region{Begin: regionBegin, End: regionEnd, Heading: regionHeading}

// apiCell is the named admission's figures, or nil if it was not measured.
func apiCell(ads []*admission, name string) *cell {
	for _, a := range ads {
		if a.name == name {
			return &a.cell
		}
	}
	return nil
}
