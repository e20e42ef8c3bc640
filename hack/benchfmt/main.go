// Command benchfmt turns `go test -bench -benchmem -count N` output into Markdown tables for
// docs/performance.md: for each benchmark the median of the N runs of ns/op, B/op, allocs/op and
// MB/s, and the spread of ns/op (max-min over median) so that a noisy machine shows as such. It also
// checks the admission benchmarks against the targets and compares the decoders.
//
// Usage: go test -run '^$' -bench . -benchmem -count 5 ./pkg/... | go run ./hack/benchfmt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// bench is every run of one benchmark.
type bench struct {
	pkg, name string
	procs     string
	metrics   map[string][]float64 // unit -> one value per run
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.*)$`)
	// logLine is a line a benchmark logged (b.Logf), printed indented under "--- BENCH:".
	logLine = regexp.MustCompile(`^\s+\S+_test\.go:\d+: (.*)$`)
)

func main() {
	maxMicros := flag.Float64("target-us", 50, "target µs per admission")
	maxAllocs := flag.Float64("target-allocs", 200, "target allocations per admission")
	flag.Parse()
	benches, logs, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfmt:", err)
		os.Exit(1)
	}
	if len(benches) == 0 {
		fmt.Fprintln(os.Stderr, "benchfmt: no benchmark results on standard input")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	summary(w, benches, *maxMicros, *maxAllocs)
	decoders(w, benches)
	results(w, benches)
	if len(logs) > 0 {
		fmt.Fprintln(w, "### Fixtures")
		fmt.Fprintln(w)
		for _, l := range logs {
			fmt.Fprintf(w, "- %s\n", l)
		}
		fmt.Fprintln(w)
	}
}

func parse(r io.Reader) ([]*bench, []string, error) {
	var (
		out  []*bench
		byID = map[string]*bench{}
		logs []string
		seen = map[string]bool{}
		pkg  string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if m := logLine.FindStringSubmatch(line); m != nil {
			if !seen[m[1]] {
				seen[m[1]] = true
				logs = append(logs, m[1])
			}
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id := pkg + " " + m[1]
		b := byID[id]
		if b == nil {
			b = &bench{pkg: pkg, name: m[1], procs: m[2], metrics: map[string][]float64{}}
			byID[id] = b
			out = append(out, b)
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %v", line, err)
			}
			b.metrics[f[i+1]] = append(b.metrics[f[i+1]], v)
		}
	}
	return out, logs, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (b *bench) med(unit string) float64 { return median(b.metrics[unit]) }

// spread is (max-min)/median of ns/op, in percent.
func (b *bench) spread() string {
	v := b.metrics["ns/op"]
	if len(v) < 2 {
		return "–"
	}
	return fmt.Sprintf("±%.0f%%", (slices.Max(v)-slices.Min(v))/median(v)*100/2)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func shortPkg(p string) string {
	if i := strings.Index(p, "/pkg/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func summary(w io.Writer, benches []*bench, maxMicros, maxAllocs float64) {
	var rows []*bench
	for _, b := range benches {
		if strings.HasPrefix(b.name, "BenchmarkAdmission") {
			rows = append(rows, b)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "### Admission against the targets (%.0f µs, %.0f allocations)\n\n", maxMicros, maxAllocs)
	fmt.Fprintln(w, "| Benchmark | µs/op | allocs/op | B/op | spread | time target | alloc target |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|:-:|:-:|")
	for _, b := range rows {
		us, allocs := b.med("ns/op")/1000, b.med("allocs/op")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(b.name, "Benchmark"),
			num(us), num(allocs), num(b.med("B/op")), b.spread(), verdict(us <= maxMicros), verdict(allocs <= maxAllocs))
	}
	fmt.Fprintln(w)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func decoders(w io.Writer, benches []*bench) {
	var rows []*bench
	for _, b := range benches {
		if strings.HasPrefix(b.name, "BenchmarkDecodeOnly/") {
			rows = append(rows, b)
		}
	}
	if len(rows) == 0 {
		return
	}
	base := rows[0].med("ns/op")
	fmt.Fprintln(w, "### Decoders (the pod object of the Pod review)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| Decoder | µs/op | MB/s | allocs/op | B/op | time vs %s |\n", strings.TrimPrefix(rows[0].name, "BenchmarkDecodeOnly/"))
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	for _, b := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f× |\n", strings.TrimPrefix(b.name, "BenchmarkDecodeOnly/"),
			num(b.med("ns/op")/1000), num(b.med("MB/s")), num(b.med("allocs/op")), num(b.med("B/op")), b.med("ns/op")/base)
	}
	fmt.Fprintln(w)
}

func results(w io.Writer, benches []*bench) {
	fmt.Fprintln(w, "### All benchmarks (median of the runs)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Package | Benchmark | runs | ns/op | spread | B/op | allocs/op | MB/s |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, b := range benches {
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", shortPkg(b.pkg), strings.TrimPrefix(b.name, "Benchmark"),
			len(b.metrics["ns/op"]), num(b.med("ns/op")), b.spread(), num(b.med("B/op")), num(b.med("allocs/op")), num(b.med("MB/s")))
	}
	fmt.Fprintln(w)
}
