package rules

import (
	"math/bits"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"gopkg.in/inf.v0"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxLimitRequestRatio implements spec.resources.maxLimitRequestRatio: for each bounded resource a
// container or init container sets both a limit and a non-zero request for, limit/request may not
// exceed the ratio. The comparison is exact (limit ≤ ratio × request, in integer or decimal
// arithmetic, never float), so a ratio of 4.0001 never passes a bound of 4. A container without both
// values, or with a zero request, is not checked (requireRequests and requireLimits are the rules for
// missing values). Ephemeral containers are exempt: they cannot set resources.
//
// Reads: spec.{initContainers,containers}[*].resources.{limits,requests}.
// Allowed: limit ≤ ratio × request.
var maxLimitRequestRatio = register(Def[[]bound]{
	ID:   "resources.maxLimitRequestRatio",
	Name: "Container limits are within a ratio of their requests",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*[]bound, field.ErrorList) {
		if s.Resources == nil {
			return nil, nil
		}
		return bounds(s.Resources.MaxLimitRequestRatio), nil
	},
	Check: func(bounds *[]bound, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, b := range *bounds {
				lim, ok := c.Resources.Limits[b.Name]
				if !ok {
					continue
				}
				req, ok := c.Resources.Requests[b.Name]
				if !ok || req.Sign() <= 0 || !exceedsRatio(lim, req, b.Value) {
					continue
				}
				ratio := b.Value
				most := resource.NewDecimalQuantity(*new(inf.Dec).Mul(ratio.AsDec(), req.AsDec()), req.Format)
				name := string(b.Name)
				out.Add(Finding{Path: resourcePath(c, "limits", b.Name), Container: c.Name,
					Message: found(containerOwner(c)+" has a "+name+" limit of "+lim.String()+", more than "+decimal(ratio.AsDec())+
						" times its request of "+req.String(),
						"lower resources.limits."+name+" to at most "+most.String()+" or raise resources.requests."+name)})
			}
		}
	},
	CEL: func(b *[]bound) []CELCheck {
		out, ok := celRatio(*b)
		if !ok {
			// A ratio past 40 bits of numerator or denominator: deny what sets both values.
			return []CELCheck{{Expression: "false", MessageExpression: CELSpecPath + " + " +
				celText(": the ratio the policy sets has too many digits to compare in CEL; the webhook judges it"), Note: "a ratio with more than 12 significant digits denies every object"}}
		}
		return out
	},
})

// exceedsRatio reports whether limit > ratio × request, exactly. Its arguments are copies, so the
// conversions below never touch the pod or the shared policy. Quantities the API server decodes are
// small decimals (a mantissa that fits in 64 bits and a power of ten), compared here in 128-bit
// integer arithmetic without allocating; anything larger is compared as inf.Dec.
func exceedsRatio(limit, request, ratio resource.Quantity) bool {
	lm, le, ok1 := decimalParts(&limit)
	qm, qe, ok2 := decimalParts(&request)
	rm, re, ok3 := decimalParts(&ratio)
	if !ok1 || !ok2 || !ok3 {
		return limit.AsDec().Cmp(new(inf.Dec).Mul(ratio.AsDec(), request.AsDec())) > 0
	}
	// limit = lm × 10^le against bound = (rm × qm) × 10^(re+qe): scale the side with the larger
	// exponent up to the other's. A side that overflows 128 bits is the larger one, since the other
	// side fits.
	ph, pl := bits.Mul64(rm, qm)
	d := le - (re + qe)
	if d >= 0 {
		lh, ll, over := mulPow10(0, lm, d)
		return over || lh > ph || lh == ph && ll > pl
	}
	bh, bl, over := mulPow10(ph, pl, -d)
	return !over && bh == 0 && lm > bl
}

// decimalParts returns a non-negative q as m × 10^e. ok is false when q is negative or its mantissa
// does not fit in 64 bits.
func decimalParts(q *resource.Quantity) (m uint64, e int32, ok bool) {
	var buf [32]byte
	digits, e := q.AsCanonicalBytes(buf[:0])
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		hi, lo := bits.Mul64(m, 10)
		lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, 0, false
		}
		m = lo
	}
	return m, e, true
}

// mulPow10 multiplies the 128-bit hi:lo by 10^n, reporting overflow.
func mulPow10(hi, lo uint64, n int32) (uint64, uint64, bool) {
	for ; n > 0 && (hi|lo) != 0; n-- {
		h1, l1 := bits.Mul64(lo, 10)
		h2, l2 := bits.Mul64(hi, 10)
		sum, carry := bits.Add64(h1, l2, 0)
		if h2 != 0 || carry != 0 {
			return 0, 0, true
		}
		hi, lo = sum, l1
	}
	return hi, lo, false
}

// decimal renders d without trailing fractional zeros: 1.500 as 1.5, 4 as 4. A ratio reads better as
// a plain number than as a quantity (1500m).
func decimal(d *inf.Dec) string {
	s := d.String()
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
