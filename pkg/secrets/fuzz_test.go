package secrets

import "testing"

// FuzzFind checks that Find never panics and that a match lies inside its input, for the default
// detector and one with a policy's pattern.
func FuzzFind(f *testing.F) {
	for _, c := range samples() {
		f.Add(c.input)
	}
	for _, s := range negatives {
		f.Add(s)
	}
	extra, err := Compile([]Pattern{{Name: "custom", Regex: `(?:pw|PW)=([^&\s]{6,})?x`}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range []*Detector{Default(), extra} {
			m, ok := d.Find(s)
			if !ok {
				continue
			}
			if m.Kind == "" || m.Start < 0 || m.End <= m.Start || m.End > len(s) {
				t.Fatalf("Find(%q) = %+v", s, m)
			}
			_ = m.Fingerprint(s)
		}
	})
}
