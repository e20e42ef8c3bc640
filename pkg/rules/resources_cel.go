package rules

import (
	"math/big"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The CEL of the resource bounds (maxLimits, maxRequests, maxLimitRequestRatio). A quantity of the
// object reaches CEL as its canonical string, which the Kubernetes quantity() library compares
// exactly, as resource.Quantity.Cmp does.

// celResourceField is the field under a container that resourcePath names, for celEach's message.
func celResourceField(list string, name corev1.ResourceName) string {
	return strings.TrimPrefix(resourcePath(&Container{}, list, name), ".containers[0].")
}

// celBounded compiles one check per bound and container list (init and regular containers): first
// is read, else second; the message is that of maxLimits or maxRequests.
func celBounded(bounds []bound, limits bool) []CELCheck {
	var out []CELCheck
	for _, b := range bounds {
		name, max := string(b.Name), b.Value.String()
		lim := "c.?resources.?limits[" + celText(name) + "]"
		req := "c.?resources.?requests[" + celText(name) + "]"
		over := func(q string) string {
			return "quantity(" + celQuantityText(q) + ").compareTo(quantity(" + celText(max) + ")) > 0"
		}
		var allowed string
		var message func(path string) string
		if limits {
			zero := "false"
			if b.Name == corev1.ResourceCPU || b.Name == corev1.ResourceMemory {
				zero = "sign(quantity(" + celQuantityText(lim) + ")) == 0"
			}
			allowed = "(" + lim + ".hasValue() ? !(" + zero + ") && !(" + over(lim) + ") : !" + req + ".hasValue() || !(" + over(req) + "))"
			message = func(path string) string {
				return path + " + '.' + (" + lim + ".hasValue() ? " + celText(celResourceField("limits", b.Name)+": ") + " + " + celOwner + " + (" + zero + " ? " +
					celText(" sets a "+name+" limit of ") + " + " + celQuantityText(lim) + " + " +
					celText(", which the kubelet reads as no limit; set resources.limits."+name+" above 0 and at most "+max) + " : " +
					celText(" limits "+name+" ") + " + " + celQuantityText(lim) + " + " +
					celText(", above the maximum "+max+"; set resources.limits."+name+" to at most "+max) + ") : " +
					celText(celResourceField("requests", b.Name)+": ") + " + " + celOwner + " + " + celText(" requests "+name+" ") + " + " + celQuantityText(req) + " + " +
					celText(", above the maximum "+max+"; set resources.requests."+name+" to at most "+max) + ")"
			}
		} else {
			allowed = "(" + req + ".hasValue() ? !(" + over(req) + ") : !" + lim + ".hasValue() || !(" + over(lim) + "))"
			message = func(path string) string {
				return path + " + " + celText("."+celResourceField("requests", b.Name)+": ") + " + " + celOwner + " + " + celText(" requests "+name+" ") + " + (" +
					req + ".hasValue() ? " + celQuantityText(req) + " + " + celText(", above the maximum "+max+"; set resources.requests."+name+" to at most "+max) +
					" : " + celQuantityText(lim) + " + " + celText(" (its limit, which the request defaults to), above the maximum "+max+
					"; set resources.requests."+name+" to at most "+max+"; the limit may stay higher") + ")"
			}
		}
		out = append(out, celEach([]ContainerKind{Init, Regular}, allowed, message, "", true)...)
	}
	return out
}

// celDecimal is the CEL of a quantity string q as two ints, [m, e] with q = m × 10^e: a number
// (its fraction moved into e), then a decimal SI suffix, a binary one (whose power of two is
// folded into m), or an exponent e<n>. The API server writes the quantities of its own kinds in
// canonical form (an integer and a suffix), but a custom object keeps what its author wrote. A
// mantissa or power that does not fit in 64 bits is a CEL error, and the API server then denies
// (failurePolicy Fail).
func celDecimal(q string) string {
	const (
		bin = "{'Ki': 1024, 'Mi': 1048576, 'Gi': 1073741824, 'Ti': 1099511627776, 'Pi': 1125899906842624, 'Ei': 1152921504606846976}"
		dec = "{'n': -9, 'u': -6, 'm': -3, '': 0, 'k': 3, 'M': 6, 'G': 9, 'T': 12, 'P': 15, 'E': 18}"
	)
	return "[" + q + ".find('^[-+]?[0-9]*(\\\\.[0-9]*)?')].map(d, [" + q + ".substring(size(d))].map(s, [int(d.replace('.', '')) * " + bin + "[?s].orValue(1), " +
		"(s.matches('^[eE][-+]?[0-9]+$') ? int(s.substring(1)) : " + dec + "[?s].orValue(0)) - (d.indexOf('.') < 0 ? 0 : size(d) - d.indexOf('.') - 1)])[0])[0]"
}

// celPow10 is the CEL of 10^n for 0 ≤ n ≤ 18; past that, indexing fails (a CEL error, a denial).
func celPow10(n string) string {
	p := make([]string, 19)
	x := int64(1)
	for i := range p {
		p[i] = strconv.FormatInt(x, 10)
		x *= 10
	}
	return "[" + strings.Join(p, ", ") + "][" + n + "]"
}

// celRatio compiles maxLimitRequestRatio: limit × den > request × num, with the ratio num/den in
// lowest terms, compared in integers after scaling to the smaller power of ten. It reports false
// when a ratio does not fit (a ratio no policy needs); the rule is then not compiled.
func celRatio(bounds []bound) ([]CELCheck, bool) {
	var out []CELCheck
	for _, b := range bounds {
		ratio := b.Value
		d := ratio.AsDec()
		num, den := new(big.Int).Set(d.UnscaledBig()), big.NewInt(1)
		if s := int64(d.Scale()); s > 0 {
			den.Exp(big.NewInt(10), big.NewInt(s), nil)
		} else {
			num.Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(-s), nil))
		}
		g := new(big.Int).GCD(nil, nil, num, den)
		num.Quo(num, g)
		den.Quo(den, g)
		if num.BitLen() > 40 || den.BitLen() > 40 {
			return nil, false
		}
		name := string(b.Name)
		lim := "c.?resources.?limits[" + celText(name) + "]"
		req := "c.?resources.?requests[" + celText(name) + "]"
		// v is [limit m, limit e, request m, request e].
		exceeds := "[" + celDecimal(celQuantityText(lim)) + " + " + celDecimal(celQuantityText(req)) + "].exists(v, v[2] > 0 && " +
			"(v[1] >= v[3] ? v[0] * " + den.String() + " * " + celPow10("v[1] - v[3]") + " > v[2] * " + num.String() +
			" : v[0] * " + den.String() + " > v[2] * " + num.String() + " * " + celPow10("v[3] - v[1]") + "))"
		allowed := "!(" + lim + ".hasValue() && " + req + ".hasValue()) || !" + exceeds
		r := decimal(d)
		out = append(out, celEach([]ContainerKind{Init, Regular}, allowed, func(path string) string {
			return path + " + " + celText("."+celResourceField("limits", b.Name)+": ") + " + " + celOwner + " + " + celText(" has a "+name+" limit of ") +
				" + " + celQuantityText(lim) + " + " + celText(", more than "+r+" times its request of ") + " + " + celQuantityText(req) + " + " +
				celText("; lower resources.limits."+name+" to at most "+r+" times the request or raise resources.requests."+name)
		}, "", true)...)
	}
	return out, true
}

// celQuantityText is the CEL of the text of the quantity in the optional v. The API server's own
// kinds and the custom kinds whose schemas hold quantities as int-or-string give CEL a string or an
// int; a custom object without such a schema may hold a JSON number with a fraction, which CEL
// reads as a double, and a double's decimal text may not be what its author wrote (the webhook
// reads the text as written, to the nanounit). Such a value is made unreadable, so that quantity()
// fails and the API server denies (failurePolicy Fail) rather than guess.
func celQuantityText(v string) string {
	return "(type(" + v + ".value()) == double ? 'a JSON number with a fraction' : string(" + v + ".value()))"
}
