package main

import (
	"strings"
	"testing"
	"time"
)

// TestPercentile: nearest rank, so p99 of a few samples is the slowest and p50 of an even count is
// the lower middle.
func TestPercentile(t *testing.T) {
	ds := []time.Duration{4, 1, 3, 2}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 2}, {99, 4}, {100, 4}, {1, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

// TestShorten: the report's request list leaves out repositories (nested ones too) and digests.
func TestShorten(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"/v2/": "/v2/",
		"/v2/cold-0-000/manifests/sha256-" + hex + ".sig": "/v2/…/manifests/sha256-….sig",
		"/v2/team/app/blobs/sha256:" + hex:                "/v2/…/blobs/sha256:…",
		"/v2/a/referrers/sha256:" + hex:                   "/v2/…/referrers/sha256:…",
	} {
		if got := shorten(in); got != want {
			t.Errorf("shorten(%q) = %q, want %q", in, got, want)
		}
	}
}
