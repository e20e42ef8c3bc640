package main

import (
	"github.com/sealgate/sealgate/hack/internal/benchdoc"

	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

const (
	regionBegin   = "<!-- bench-signatures:begin -->"
	regionEnd     = "<!-- bench-signatures:end -->"
	regionHeading = "## Signature verification (make bench-signatures)"
)

// env is the machine and the run, for the report's header.
type env struct {
	benchdoc.Machine
	cosign                string
	loadBefore, loadAfter string
	elapsed               time.Duration
}

func machine(cosign string) env {
	e := env{Machine: benchdoc.ReadMachine(), cosign: "unknown"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cosign, "version").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "GitVersion:"); ok {
				e.cosign = strings.TrimSpace(v)
			}
		}
	}
	return e
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds, in any order.
func percentile(ds []time.Duration, p float64) time.Duration {
	return benchdoc.Percentile(slices.Sorted(slices.Values(ds)), p/100)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func perItem(total int64, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(total)/float64(n))
}

func requestList(reqs []string) string {
	if len(reqs) == 0 {
		return "none"
	}
	return "`" + strings.Join(reqs, "`, `") + "`"
}

// report is the region of docs/performance.md, markers included.
func report(e env, o options, colds []*cold, b *batchResult) string {
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	w("%s\n", regionBegin)
	w("Written by `make bench-signatures` (`hack/benchsig`); do not edit by hand. One run on one machine: read\n")
	w("the ratios, which are measured in the same run, rather than the absolute figures.\n\n")
	w("| | |\n|---|---|\n")
	w("| Date | %s |\n| Commit | %s |\n| Go | `%s` |\n| CPU | %s |\n| Cores | %d |\n", e.Date, e.Commit, e.Go, e.CPU, e.Cores)
	w("| Load average (1, 5, 15 min) | before %s; after %s |\n| cosign | %s |\n| Run time | %s |\n", e.loadBefore, e.loadAfter, e.cosign, e.elapsed.Round(time.Second))
	if o.latency > 0 {
		w("| Registry round trip | %s waited before each answer, and twice more before the first on a connection (its TCP and TLS handshakes) (`-latency`) |\n", o.latency)
	}
	w("\n")
	w("The registry is go-containerregistry's, served over TLS on 127.0.0.1 with the OCI referrers API\n")
	w("(`test/registry`, the signatures tier's), and counts every HTTP request it answers. Images are random,\n")
	w("signed by `cosign sign --key` offline (no transparency log; `cosign verify` runs with\n")
	w("`--insecure-ignore-tlog=true`). sealgate is measured in process: an AdmissionReview of a Pod CREATE\n")
	w("through its admission handler (`ReviewBody`: decoding, policy, verification, response) under an\n")
	w("Enforce policy that requires a signature by the key; an unsigned image is checked to be denied first.\n\n")

	w("### Cold verification of one image\n\n")
	w("A new verifier per sample (empty caches, new TLS connections) for sealgate; a new process per sample\n")
	w("for cosign. %d samples for sealgate, %d for cosign, per format; p99 of few samples is their slowest.\n\n", o.samples, o.cosignSamples)
	w("| format | sealgate p50 | sealgate p99 | requests (TLS connections) | cosign verify p50 | cosign p99 | cosign requests (TLS connections) | cosign / sealgate (p50) |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	for _, c := range colds {
		w("| %s | %s | %s | %s (%s) | %s | %s | %s (%s) | %s |\n", c.format,
			ms(percentile(c.sealgate, 50)), ms(percentile(c.sealgate, 99)), perItem(c.sealgateReqs, len(c.sealgate)), perItem(c.sealgateConns, len(c.sealgate)),
			ms(percentile(c.cosign, 50)), ms(percentile(c.cosign, 99)), perItem(c.cosignReqs, len(c.cosign)), perItem(c.cosignConns, len(c.cosign)),
			ratio(float64(percentile(c.cosign, 50)), float64(percentile(c.sealgate, 50))))
	}

	w("\nThe requests of one cold verification (repository and digests left out):\n\n")
	for _, c := range colds {
		w("- %s, sealgate: %s\n", c.format, requestList(c.sealgateTrace))
		if len(c.cosignTrace) > 0 {
			w("- %s, cosign verify: %s\n", c.format, requestList(c.cosignTrace))
		}
	}
	w("\nsealgate reads both formats for every image, since a threshold counts signers across them, so an\n")
	w("image signed in one format costs the lookup of the other too.\n")

	w("\n### %d distinct signed images\n\n", b.images)
	w("Each image in its own repository, signed as a %s. sealgate: one Pod AdmissionReview per image,\n", b.format)
	w("%d at a time, through one handler: first with a new verifier, then again with its caches warm.\n", o.conc)
	w("cosign: `cosign verify` of the same images. Per-item times are per admission or per cosign process.\n\n")
	w("| what | wall | per item p50 | per item p99 | registry requests | per image | TLS connections | wall / sealgate cold |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	coldWall := float64(b.passes[0].wall)
	for _, r := range b.passes {
		w("| %s | %s | %s | %s | %d | %s | %d | %s |\n", r.name, ms(r.wall), ms(percentile(r.each, 50)), ms(percentile(r.each, 99)),
			r.requests, perItem(r.requests, b.images), r.conns, ratio(float64(r.wall), coldWall))
	}
	w("\nA `cosign verify` process starts, pings the registry and opens a TLS connection for its images; the\n")
	w("one given every image does that once, which makes it the closest to the work of a long-running\n")
	w("verifier. The connection count shows how many TLS handshakes each way cost the registry.\n")
	w("\nThe warm pass is what the caches save: a verified digest is reused for an hour per policy\n")
	w("generation, so a pod whose images are pinned by digest costs no registry request at all.\n\n")
	w("Rerun: `make bench-signatures` (under a minute on 2 cores, most of it cosign). Smaller or other runs:\n")
	w("`BENCH_SIG_FLAGS='-images 20 -samples 10 -cosign-samples 2 -c 8 -format classic -out \"\"'` (`-out \"\"`\n")
	w("prints the region instead of writing it). `-latency 10ms` waits a round trip before each registry\n")
	w("answer (and two more on a new connection), so that the round trips a verification makes show in its\n")
	w("time as they would against a registry that far away.\n")
	w("%s\n", regionEnd)
	return s.String()
}

// region is this program's part of docs/performance.md.
var region = benchdoc.Region{Begin: regionBegin, End: regionEnd, Heading: regionHeading}
