package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sealgate/sealgate/hack/internal/benchdoc"
)

// The goals sealgate's performance work set itself, judged on the figures of this run. They are
// ratios within one run, so they hold on any machine; they are reported, never asserted.
const (
	goalConc          = 8
	goalFloorRatio    = 0.80
	goalPSARatio      = 4.0
	goalP99Over       = 2 * time.Millisecond
	goalLossBefore    = 0.30 // the create throughput lost to sealgate when the goals were set
	goalPeakRSS       = 256 << 20
	chartMemoryLimit  = 512 << 20
	goalUnmatchedSlop = 0.02 // the least loss counted as measurable, whatever the rounds' spread
)

// goal is one row of the goals table.
type goal struct {
	what, target, measured string
	met                    bool
	// why explains a goal that no webhook can meet on this machine, or is empty.
	why string
}

// goals judges the goals that this run measured; a goal whose servers or admissions were left out
// is left out.
func goals(o options, cells map[int]map[string]*cell, ads []*admission) []goal {
	var out []goal
	if c := cells[goalConc]; c != nil {
		sg, floor, psa := c["sealgate"], c["floor"], c["psa-webhook"]
		if sg != nil && floor != nil && floor.rate() > 0 {
			r := sg.rate() / floor.rate()
			g := goal{
				what:     fmt.Sprintf("direct HTTPS, c=%d: throughput against the floor", goalConc),
				target:   fmt.Sprintf("≥ %.2f×", goalFloorRatio),
				measured: fmt.Sprintf("%.2f×", r),
				met:      r >= goalFloorRatio,
			}
			if fj := c["floor-json"]; fj != nil {
				j := fj.rate() / floor.rate()
				g.measured += fmt.Sprintf(" (floor-json %.2f×)", j)
				if j < goalFloorRatio {
					g.why = fmt.Sprintf("floor-json, which only checks that the body is valid JSON and builds nothing, reaches %.2f× itself: no webhook that reads its input as JSON can meet the target here", j)
				}
			}
			out = append(out, g)
			sp, fp := benchdoc.Percentile(sg.lat, 0.99), benchdoc.Percentile(floor.lat, 0.99)
			out = append(out, goal{
				what:     fmt.Sprintf("direct HTTPS, c=%d: p99 against the floor's", goalConc),
				target:   "≤ the floor's + " + ms(goalP99Over),
				measured: ms(sp) + " (floor " + ms(fp) + ")",
				met:      sp <= fp+goalP99Over,
			})
		}
		if sg != nil && psa != nil && psa.rate() > 0 {
			r := sg.rate() / psa.rate()
			out = append(out, goal{
				what:     fmt.Sprintf("direct HTTPS, c=%d: throughput against the PSA webhook", goalConc),
				target:   fmt.Sprintf("≥ %.1f×", goalPSARatio),
				measured: fmt.Sprintf("%.2f×", r),
				met:      r >= goalPSARatio,
			})
		}
	}
	if top := o.concs[len(o.concs)-1]; cells[top]["sealgate"] != nil {
		peak := cells[top]["sealgate"].peakRSS
		out = append(out, goal{
			what:     fmt.Sprintf("memory: sealgate's peak RSS at c=%d", top),
			target:   fmt.Sprintf("≤ %s (half the chart's %s limit)", mib(goalPeakRSS), mib(chartMemoryLimit)),
			measured: mib(peak),
			met:      peak <= goalPeakRSS,
		})
	}
	none := apiCell(ads, "none")
	if none == nil || none.rate() == 0 {
		return out
	}
	loss := func(c *cell) float64 { return 1 - c.rate()/none.rate() }
	if sg := apiCell(ads, "sealgate"); sg != nil {
		g := goal{
			what:     "through the API server, a policy acts: create throughput lost",
			target:   fmt.Sprintf("≤ %.0f%% (half of %.0f%%)", 100*goalLossBefore/2, 100*goalLossBefore),
			measured: fmt.Sprintf("%.0f%%", 100*loss(sg)),
			met:      loss(sg) <= goalLossBefore/2,
		}
		if floor := apiCell(ads, "floor"); floor != nil {
			g.measured += fmt.Sprintf(" (floor webhook %.0f%%)", 100*loss(floor))
			if loss(floor) > goalLossBefore/2 {
				g.why = "the floor webhook, which answers without reading, loses more than the target: the API server spends that much calling any webhook"
			}
		}
		out = append(out, g)
	}
	if un := apiCell(ads, "sealgate-unmatched"); un != nil {
		noise := max(none.spread(), goalUnmatchedSlop)
		out = append(out, goal{
			what:     "through the API server, no policy acts: create throughput lost",
			target:   fmt.Sprintf("not measurable: ≤ %.0f%%, the spread of none's rounds (at least %.0f%%)", 100*noise, 100*goalUnmatchedSlop),
			measured: fmt.Sprintf("%.0f%%", 100*loss(un)),
			met:      loss(un) <= noise,
		})
	}
	return out
}

// goalsTable writes the goals as a markdown table, or nothing when there are none.
func goalsTable(gs []goal) string {
	if len(gs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Goals\n\n")
	b.WriteString("The goals set for sealgate's cost, judged on this run's figures (the throughput goals are ratios\n")
	b.WriteString("within the run, so they carry across machines):\n\n")
	b.WriteString("| goal | target | this run | |\n|---|---|---|---|\n")
	var notes []string
	for _, g := range gs {
		verdict := "missed"
		if g.met {
			verdict = "met"
		}
		if g.why != "" {
			notes = append(notes, g.why)
			verdict += fmt.Sprintf(" (note %d)", len(notes))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.what, g.target, g.measured, verdict)
	}
	for i, n := range notes {
		fmt.Fprintf(&b, "\nNote %d: %s.\n", i+1, n)
	}
	b.WriteString("\n")
	return b.String()
}
