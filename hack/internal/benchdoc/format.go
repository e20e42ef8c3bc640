package benchdoc

import (
	"fmt"
	"math"
	"time"
)

// Thousands formats n with commas: 10,040.
func Thousands[T int | int64](n T) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Percentile is the nearest-rank p-quantile (0 < p <= 1) of sorted, ascending durations; 0 when
// there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
