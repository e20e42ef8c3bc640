// Command benchsig is `make bench-signatures`: what sealgate's signature verification costs, against
// the real cosign CLI as the reference. It is a benchmark, not a test: it measures and writes its
// region of docs/performance.md, and fails only when something does not run or a signed image is
// not admitted.
//
// Everything runs against one OCI registry served over TLS on 127.0.0.1 (test/registry, the
// signatures tier's registry), which counts the HTTP requests it answers. Images are random, pushed
// here, and signed by `cosign sign --key` offline (no transparency log), in both formats sealgate
// reads: the legacy "sha256-<hex>.sig" tag and the Sigstore bundle attached as an OCI referrer.
//
//  1. Cold: one image per format, a fresh verifier (empty caches, new connections) per sample,
//     admitted through sealgate's admission handler in process; and `cosign verify` of the same
//     image, one process per sample.
//  2. Batch: -images distinct signed images, one Pod CREATE each, -c at a time through one handler
//     with a fresh verifier, then again with its caches warm.
//  3. Reference: `cosign verify` of the same images, one process per image in sequence, -c
//     processes at a time, and one process given every image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sealgate/sealgate/hack/internal/benchdoc"
	"github.com/sealgate/sealgate/test/registry"
)

type options struct {
	bin, out      string
	samples       int
	cosignSamples int
	images        int
	conc          int
	format        string
	trace         bool
	latency       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory of the cosign binary")
	flag.StringVar(&o.out, "out", benchdoc.PerformanceDoc, "file whose bench-signatures region is rewritten (empty: print the region only)")
	flag.IntVar(&o.samples, "samples", 30, "cold verifications by sealgate per format")
	flag.IntVar(&o.cosignSamples, "cosign-samples", 5, "cold `cosign verify` runs per format")
	flag.IntVar(&o.images, "images", 100, "distinct signed images admitted concurrently")
	flag.IntVar(&o.conc, "c", 16, "concurrency of the batch, for sealgate and cosign alike")
	flag.StringVar(&o.format, "format", "bundle", "signature format of the batch: bundle or classic")
	flag.DurationVar(&o.latency, "latency", 0, "round trip the registry waits before answering each request, and twice more for the first request on a connection (its TCP and TLS handshakes), as a registry that far away would (0: loopback as it is)")
	flag.BoolVar(&o.trace, "trace", false, "log the registry requests of the first cold verification of each format, by sealgate and by cosign, as they come")
	flag.Parse()
	if o.samples < 1 || o.cosignSamples < 0 || o.images < 1 || o.conc < 1 || (o.format != "bundle" && o.format != "classic") || o.latency < 0 || o.latency > time.Second {
		fmt.Fprintln(os.Stderr, "benchsig: -samples, -images and -c must be at least 1, -cosign-samples at least 0, -format bundle or classic, -latency from 0 to 1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchsig:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchsig: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	cosign, err := filepath.Abs(filepath.Join(o.bin, "cosign"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(cosign); err != nil {
		return fmt.Errorf("cosign is missing (%w): run `hack/tools.sh cosign` first", err)
	}
	dir, err := os.MkdirTemp("", "benchsig-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	e := machine(cosign)
	e.loadBefore = benchdoc.LoadAverage()
	start := time.Now()

	tr := &tracer{log: o.trace, latency: o.latency}
	reg, err := registry.Start(dir, true, tr.wrap)
	if err != nil {
		return err
	}
	defer reg.Close()
	k, err := reg.NewKey(ctx, cosign, dir, "release")
	if err != nil {
		return err
	}
	pubFile := filepath.Join(dir, "release.pub")
	b := &bench{o: o, reg: reg, dir: dir, cosign: cosign, pubFile: pubFile, tracer: tr}
	if b.policy, err = writePolicy(dir, reg.Host, k.Pub); err != nil {
		return err
	}

	// 1. Cold, per format.
	var colds []*cold
	for _, f := range []registry.Format{registry.Classic, registry.Bundle} {
		logf("cold: pushing and signing one image (%s)", f)
		c, err := b.cold(ctx, k, f)
		if err != nil {
			return err
		}
		colds = append(colds, c)
	}

	// 2 and 3. The batch.
	f := registry.Bundle
	if o.format == "classic" {
		f = registry.Classic
	}
	logf("batch: pushing %d images and signing them with one cosign run (%s)", o.images, f)
	refs, err := b.pushSigned(ctx, k, f, "batch", o.images)
	if err != nil {
		return err
	}
	if err := b.unsignedDenied(ctx); err != nil {
		return err
	}
	batch, err := b.batch(ctx, refs)
	if err != nil {
		return err
	}
	batch.format = f
	e.loadAfter = benchdoc.LoadAverage()
	e.elapsed = time.Since(start)

	text := report(e, o, colds, batch)
	if o.out == "" {
		fmt.Print(text)
		return nil
	}
	if err := region.Write(o.out, text); err != nil {
		return err
	}
	logf("wrote %s in %s", o.out, e.elapsed.Round(time.Second))
	return nil
}

// errDenied is returned when sealgate does not admit an image cosign signed.
var errDenied = errors.New("sealgate denied a signed image")
