//go:build !race

package rules

// RaceEnabled reports whether the tests run under the race detector, where sync.Pool drops items at
// random (regexp's matchers among them), so that allocation counts say nothing.
const RaceEnabled = false
