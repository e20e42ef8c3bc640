package secrets

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/secrets/secretstest"
)

func TestFindSamples(t *testing.T) {
	for _, c := range samples() {
		t.Run(c.name, func(t *testing.T) {
			m, ok := Find(c.input)
			if !ok {
				t.Fatalf("Find found nothing, want a %s", c.kind)
			}
			if m.Kind != c.kind {
				t.Errorf("Kind = %q, want %q", m.Kind, c.kind)
			}
			if got := c.input[m.Start:m.End]; got != c.want {
				t.Errorf("Find delimited %q, want %q", got, c.want)
			}
		})
	}
}

// TestEveryKindHasASample keeps the table and the samples together: a kind added without a sample
// fails here.
func TestEveryKindHasASample(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range samples() {
		covered[c.kind] = true
	}
	for _, k := range Kinds() {
		if !covered[k] {
			t.Errorf("kind %q has no sample in samples_test.go", k)
		}
	}
}

func TestFindNegatives(t *testing.T) {
	for _, s := range negatives {
		if m, ok := Find(s); ok {
			t.Errorf("Find(%q) = %s at [%d:%d] %q, want nothing", s, m.Kind, m.Start, m.End, s[m.Start:m.End])
		}
	}
}

func TestFindReturnsTheFirstSecret(t *testing.T) {
	s := "a=" + fakeGitHubPAT + " b=" + fakeAWSAccessKeyID
	m, ok := Find(s)
	if !ok || m.Kind != "GitHub token" || s[m.Start:m.End] != fakeGitHubPAT {
		t.Fatalf("Find = %+v, %v; want the GitHub token, which comes first", m, ok)
	}
	// A JWT candidate that fails verification does not hide a real one after it.
	s = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.1ISw1rQIcduL4QDtukkw " + fakeJWT
	if m, ok := Find(s); !ok || s[m.Start:m.End] != fakeJWT {
		t.Fatalf("Find = %+v, %v; want the second, valid JWT", m, ok)
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint(fakeGitHubPAT)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{12}$`).MatchString(fp) {
		t.Fatalf("Fingerprint = %q, want sha256: and 12 hex digits", fp)
	}
	if Fingerprint(fakeGitHubPAT) != fp {
		t.Error("Fingerprint is not stable")
	}
	if Fingerprint(fakeGitHubAppToken) == fp {
		t.Error("two secrets have one fingerprint")
	}
	s := "TOKEN=" + fakeGitHubPAT
	m, _ := Find(s)
	if m.Fingerprint(s) != fp {
		t.Errorf("Match.Fingerprint = %q, want the fingerprint of the secret alone, %q", m.Fingerprint(s), fp)
	}
}

func TestCompileAddsPatterns(t *testing.T) {
	d, err := Compile([]Pattern{
		{Name: "Acme deploy key", Regex: `acme_dk_[0-9a-f]{32}`},
		// With a group, the group is the secret and the rest is context.
		{Name: "database password", Regex: `(?i)db_password=(\S{8,})`},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ input, kind, want string }{
		{"--key=acme_dk_0123456789abcdef0123456789abcdef", "Acme deploy key", "acme_dk_0123456789abcdef0123456789abcdef"},
		{"DB_PASSWORD=hunter2hunter2", "database password", "hunter2hunter2"},
		// The built-in formats still apply, and win a tie.
		{fakeNPMToken, "npm access token", fakeNPMToken},
	} {
		m, ok := d.Find(c.input)
		if !ok || m.Kind != c.kind || c.input[m.Start:m.End] != c.want || m.Added != (c.kind != "npm access token") {
			t.Errorf("Find(%q) = %+v, %v; want %s %q", c.input, m, ok, c.kind, c.want)
		}
	}
	if _, ok := Default().Find("acme_dk_0123456789abcdef0123456789abcdef"); ok {
		t.Error("a policy's pattern leaked into the default detector")
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Pattern
		want string
	}{
		{"no name", Pattern{Regex: "x"}, "name is required"},
		{"no regex", Pattern{Name: "n"}, "regex is required"},
		{"too long", Pattern{Name: "n", Regex: strings.Repeat("a", MaxPatternBytes+1)}, "more than 1024"},
		{"not RE2", Pattern{Name: "n", Regex: `(?=lookahead)`}, "not valid RE2"},
		{"backreference", Pattern{Name: "n", Regex: `(a)\1`}, "not valid RE2"},
		{"large program", Pattern{Name: "n", Regex: strings.Repeat("[a-z]{1000}", 5)}, "instructions"},
		{"empty match", Pattern{Name: "n", Regex: `(token)?`}, "matches the empty string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile([]Pattern{{Name: "ok", Regex: "ok_[0-9]{4}"}, c.p})
			var pe *PatternError
			if !errors.As(err, &pe) || pe.Index != 1 || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Compile error = %v, want a PatternError at index 1 containing %q", err, c.want)
			}
		})
	}
}

// TestLargeInputs runs the shapes that make backtracking engines blow up: RE2 is linear, and this
// test only shows that such inputs are answered (timings are not asserted).
func TestLargeInputs(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("eyJ", 1<<15),
		strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", 1<<12),
		strings.Repeat("-----BEGIN PRIVATE KEY-----", 1<<12),
		"-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("A", 1<<17),
		strings.Repeat("aws_secret=", 1<<12),
		strings.Repeat("AKIA", 1<<15),
	} {
		if m, ok := Find(s); ok && m.Kind != "private key" {
			t.Errorf("Find(%.20q…) = %s", s, m.Kind)
		}
	}
}

func BenchmarkFind(b *testing.B) {
	inputs := append([]string{}, negatives...)
	for _, c := range samples() {
		inputs = append(inputs, c.input)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Find(inputs[i%len(inputs)])
	}
}

// TestSecretstestSamples holds the samples other packages' tests use to the table: one per kind,
// each found as NAME=value with its secret inside the match.
func TestSecretstestSamples(t *testing.T) {
	covered := map[string]bool{}
	for _, s := range secretstest.Samples {
		covered[s.Kind] = true
		in := s.Name + "=" + s.Value
		m, ok := Find(in)
		if !ok || m.Kind != s.Kind || !strings.Contains(in[m.Start:m.End], s.Secret) {
			t.Errorf("Find(%s=…) = %+v, %v; want a %s covering the sample's secret", s.Name, m, ok, s.Kind)
		}
	}
	for _, k := range Kinds() {
		if !covered[k] {
			t.Errorf("kind %q has no sample in secretstest", k)
		}
	}
}

// TestFindEnv: FindEnv finds what Find finds in NAME=value, at the same offsets, for every sample and
// negative, with the name as context or not, and a policy's pattern that reads the name.
func TestFindEnv(t *testing.T) {
	custom, err := Compile([]Pattern{{Name: "db password", Regex: `DB_PASSWORD=(\S{8,})`}})
	if err != nil {
		t.Fatal(err)
	}
	type env struct{ name, value string }
	envs := []env{{"DB_PASSWORD", "hunter2hunter2"}, {fakeGitHubPAT, "true"}, {"AccountKey", fakeAzureStorageKey},
		{"aws_secret_access_key", fakeAWSSecretKey}, {"X", "AWS_SECRET_ACCESS_KEY=" + fakeAWSSecretKey}}
	for _, s := range secretstest.Samples {
		envs = append(envs, env{s.Name, s.Value}, env{"VALUE", s.Value})
	}
	for _, n := range negatives {
		envs = append(envs, env{"NAME", n})
	}
	for _, d := range []*Detector{Default(), custom} {
		for _, e := range envs {
			joined := e.name + "=" + e.value
			want, wantOK := d.Find(joined)
			got, ok := d.FindEnv(e.name, e.value)
			if got != want || ok != wantOK {
				t.Errorf("FindEnv(%.20q, %.20q) = %+v, %v; Find(NAME=value) = %+v, %v", e.name, e.value, got, ok, want, wantOK)
			}
			if ok && got.EnvFingerprint(e.name, e.value) != got.Fingerprint(joined) {
				t.Errorf("EnvFingerprint(%.20q, %.20q) is not the fingerprint of the secret", e.name, e.value)
			}
		}
	}
	if n := testing.AllocsPerRun(10, func() { Default().FindEnv("DATABASE_URL", "postgres://db.example.com:5432/app") }); n != 0 {
		t.Errorf("FindEnv of an ordinary variable allocates %.0f times", n)
	}
}
