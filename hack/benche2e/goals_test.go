package main

import (
	"strings"
	"testing"
	"time"
)

// cellOf is a cell of one round: n requests in a second, every latency lat.
func cellOf(n int, lat time.Duration, rates ...float64) *cell {
	c := &cell{}
	c.add(round{requests: n, elapsed: time.Second, lat: []time.Duration{lat}})
	if len(rates) > 0 {
		c.rates = rates
	}
	return c
}

func TestGoals(t *testing.T) {
	o := options{concs: []int{8}}
	cells := map[int]map[string]*cell{8: {
		"floor":       cellOf(1000, time.Millisecond),
		"sealgate":    cellOf(850, 2500*time.Microsecond),
		"psa-webhook": cellOf(250, 5*time.Millisecond),
	}}
	cells[8]["sealgate"].peakRSS = 300 << 20
	ads := []*admission{
		{name: "none", cell: *cellOf(1000, 0, 990, 1010)},
		{name: "floor", cell: *cellOf(800, 0)},
		{name: "sealgate", cell: *cellOf(780, 0)},
		{name: "sealgate-unmatched", cell: *cellOf(975, 0)},
	}
	got := map[string]goal{}
	for _, g := range goals(o, cells, ads) {
		got[g.what] = g
	}
	want := map[string]bool{
		"direct HTTPS, c=8: throughput against the floor":                true,  // 0.85× ≥ 0.80×
		"direct HTTPS, c=8: p99 against the floor's":                     true,  // 2.5 ms ≤ 1 + 2 ms
		"direct HTTPS, c=8: throughput against the PSA webhook":          false, // 3.4× < 4×
		"memory: sealgate's peak RSS at c=8":                             false, // 300 MiB > 256 MiB
		"through the API server, a policy acts: create throughput lost":  false, // 22% > 15%
		"through the API server, no policy acts: create throughput lost": false, // 2.5% > max(2% spread, 2%)
	}
	for what, met := range want {
		g, ok := got[what]
		if !ok {
			t.Errorf("goal %q missing; got %v", what, got)
			continue
		}
		if g.met != met {
			t.Errorf("goal %q: met = %v, want %v (%+v)", what, g.met, met, g)
		}
	}
	if g := got["direct HTTPS, c=8: throughput against the floor"]; g.why != "" {
		t.Errorf("without floor-json the floor goal has no note, got %q", g.why)
	}
	if len(got) != len(want) {
		t.Errorf("got %d goals, want %d", len(got), len(want))
	}
	if g := got["through the API server, a policy acts: create throughput lost"]; !strings.Contains(g.why, "floor webhook") {
		t.Errorf("a loss target under the floor webhook's loss should say so, got %q", g.why)
	}
	table := goalsTable(goals(o, cells, ads))
	if !strings.Contains(table, "| missed (note 1) |") || !strings.Contains(table, "\nNote 1: the floor webhook") {
		t.Errorf("the table should point a missed goal at its note:\n%s", table)
	}

	// A floor-json under the target says that no JSON-reading webhook can meet it.
	cells[8]["floor-json"] = cellOf(700, time.Millisecond)
	for _, g := range goals(o, cells, ads) {
		if strings.Contains(g.what, "against the floor") && !strings.HasSuffix(g.what, "floor's") &&
			(!strings.Contains(g.why, "floor-json") || !strings.Contains(g.measured, "floor-json 0.70×")) {
			t.Errorf("floor-json at 0.70×: goal %+v should say it is out of reach", g)
		}
	}
	delete(cells[8], "floor-json")

	// Without the peers and the API server, only what was measured is judged.
	only := map[int]map[string]*cell{8: {"floor": cells[8]["floor"], "sealgate": cells[8]["sealgate"]}}
	if n := len(goals(o, only, nil)); n != 3 {
		t.Errorf("floor and sealgate only: %d goals, want 3 (floor ratio, p99, memory)", n)
	}
}
