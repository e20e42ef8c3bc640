package benchdoc

import "fmt"

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
