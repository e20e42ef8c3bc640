package admission

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/engine"
)

// denialMessageByString is DenialMessage as it was written first, each line formatted with
// Violation.String: the reference the faster one must match byte for byte.
func denialMessageByString(what string, vs []engine.Violation, omitted int) string {
	var b strings.Builder
	total := len(vs) + omitted
	fmt.Fprintf(&b, "%s was denied by sealgate (%d %s):", what, total, plural(total, "violation", "violations"))
	const room = 64
	shown := 0
	for _, v := range vs {
		line := v.String()
		if shown == engine.MaxDenialViolations || b.Len()+len(line)+3 > engine.MaxDenialBytes-room {
			break
		}
		b.WriteString("\n- ")
		b.WriteString(line)
		shown++
	}
	if more := total - shown; more > 0 {
		fmt.Fprintf(&b, "\n… and %d more %s not shown", more, plural(more, "violation", "violations"))
	}
	return b.String()
}

// TestDenialMessageMatchesString: the message is the one Violation.String's lines make, at the
// count and byte bounds too, with rule lists, exceptions and omitted violations.
func TestDenialMessageMatchesString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	violation := func(msgLen int) engine.Violation {
		v := engine.Violation{Policy: "restricted", Rule: "podSecurity.privileged", Path: "spec.containers[0].securityContext.privileged",
			Message: strings.Repeat("m", msgLen)}
		if rng.IntN(3) == 0 {
			v.AlsoRules = []string{"containers.privileged", "podSecurity.baseline"}[:1+rng.IntN(2)]
		}
		if rng.IntN(4) == 0 {
			v.Excepted = "prod/legacy"
		}
		return v
	}
	cases := map[string][]engine.Violation{"none": nil}
	for _, n := range []int{1, 2, engine.MaxDenialViolations, engine.MaxDenialViolations + 1, 80} {
		var vs []engine.Violation
		for range n {
			vs = append(vs, violation(rng.IntN(120)))
		}
		cases[fmt.Sprintf("%d short", n)] = vs
	}
	// Long lines, so that the byte bound cuts the list; one size per remainder near the bound.
	for size := 300; size < 1400; size += 97 {
		var vs []engine.Violation
		for range 40 {
			vs = append(vs, violation(size+rng.IntN(7)))
		}
		cases[fmt.Sprintf("lines of %d bytes", size)] = vs
	}
	for name, vs := range cases {
		for _, omitted := range []int{0, 3} {
			got := DenialMessage(`Pod "web"`, vs, omitted)
			if want := denialMessageByString(`Pod "web"`, vs, omitted); got != want {
				t.Errorf("%s, %d omitted: message differs:\n got %q\nwant %q", name, omitted, got, want)
			}
		}
	}
}

// TestWriteLineIsString: lineLen and writeLine agree with Violation.String.
func TestWriteLineIsString(t *testing.T) {
	for _, v := range []engine.Violation{
		{},
		{Policy: "p", Rule: "r", Path: "spec.x", Message: "bad; fix it"},
		{Policy: "p", Rule: "r", AlsoRules: []string{"a", "b"}, Path: "spec", Message: "m", Excepted: "ns/e"},
		{Policy: "p", Rule: "r", Path: "spec", Message: "é ünïcode", Excepted: "ns/e"},
	} {
		var b strings.Builder
		writeLine(&b, &v)
		if b.String() != v.String() || lineLen(&v) != len(v.String()) {
			t.Errorf("writeLine %q (%d bytes by lineLen), want %q", b.String(), lineLen(&v), v.String())
		}
	}
}
