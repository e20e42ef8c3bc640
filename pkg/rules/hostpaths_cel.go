package rules

import "strings"

// cel compiles hostPaths: one validation of the volumes, and, when a prefix is read-only, one of
// the mounts of each container list. A path p is matched as match does: absolute, without a ".."
// segment, cleaned by dropping its empty and "." segments (path.Clean, given no ".."), and
// compared segment by segment.
func (a *hostPathAllowlist) cel() []CELCheck {
	const (
		vols  = CELSpec + ".?volumes.orValue([])"
		p     = "v.?hostPath.?path.orValue('')"
		valid = "(" + p + ".startsWith('/') && !" + p + ".split('/').exists(s, s == '..'))"
		clean = "('/' + " + p + ".split('/').filter(s, s != '' && s != '.').join('/'))"
	)
	under := func(readOnly bool) string {
		var alts []string
		for _, x := range a.prefixes {
			switch {
			case x.readOnly != readOnly:
			case x.path == "/":
				alts = append(alts, "true")
			default:
				alts = append(alts, "x == "+celText(x.path)+" || x.startsWith("+celText(x.path+"/")+")")
			}
		}
		if len(alts) == 0 {
			return "false"
		}
		return "[" + clean + "].exists(x, " + strings.Join(alts, " || ") + ")"
	}
	ok := "!v.?hostPath.hasValue() || " + valid + " && (" + under(false) + " || " + under(true) + ")"
	fix := "host paths must be under " + a.text
	q := func(v string) string {
		return celQuote(v+".name") + " + ' (' + " + celQuote(v+".hostPath.path") + " + ')'"
	}
	out := []CELCheck{{
		Expression: vols + ".all(v, " + ok + ")",
		MessageExpression: "[" + vols + ".transformList(i, v, !(" + ok + "), i)].map(b, size(b) == 1 ? [" + vols + "[b[0]]].map(v, " + CELSpecPath +
			" + '.volumes[' + string(b[0]) + '].hostPath.path: volume ' + " + celQuote("v.name") + " + ' mounts host path ' + " + celQuote(p) +
			" + (" + p + `.split('/').exists(s, s == '..') ? ', which has ".." segments' : !` + p + ".startsWith('/') ? ', which is not an absolute path' : '') + " +
			celText("; "+fix+": mount a path under one of them, or use another volume type") + ")[0] : " +
			CELSpecPath + " + '.volumes: ' + string(size(b)) + ' volumes mount host paths that are not allowed: ' + " +
			"b.transformList(k, i, k < 3, [" + vols + "[i]].map(v, " + q("v") + ")[0]).join(', ') + (size(b) > 3 ? ', … (' + string(size(b) - 3) + ' more)' : '') + " +
			celText("; "+fix+": mount paths under them, or use other volume types") + ")[0]",
		Exact: true,
	}}
	if a.readOnly == "" {
		return out
	}
	// ro is the names of the volumes only read-only prefixes allow, computed once per validation.
	roOnly := "v.?hostPath.hasValue() && " + valid + " && !" + under(false) + " && " + under(true)
	ro := vols + ".filter(v, " + roOnly + ").map(v, v.name)"
	bad := "!m.?readOnly.orValue(false) && m.name in ro"
	mounts := "c.?volumeMounts.orValue([])"
	entry := func(j string) string {
		return "[c.volumeMounts[" + j + "]].map(m, " + celQuote("m.name") + " + ' (' + [" + vols + ".filter(v, v.name == m.name && " + roOnly + ")[0]].map(v, " +
			celQuote("v.hostPath.path") + ")[0] + ')')[0]"
	}
	fixRO := "host paths under " + a.readOnly + " may only be mounted read-only: set readOnly: true on "
	checks := celEach(celLists, "!"+mounts+".exists(m, "+bad+")", func(path string) string {
		return "[" + mounts + ".transformList(j, m, " + bad + ", j)].map(w, size(w) == 1 ? " + path + " + '.volumeMounts[' + string(w[0]) + '].readOnly: ' + " +
			celOwner + " + ' mounts host path volume ' + " + entry("w[0]") + " + " + celText(" writable; "+fixRO+"the mount") + " : " +
			path + " + '.volumeMounts: ' + " + celOwner + " + ' mounts ' + string(size(w)) + ' host path volumes writable: ' + " +
			"w.transformList(k, j, k < 3, " + entry("j") + ").join(', ') + (size(w) > 3 ? ', … (' + string(size(w) - 3) + ' more)' : '') + " +
			celText("; "+fixRO+"each mount") + ")[0]"
	}, "", true)
	for _, c := range checks {
		c.Expression = "[" + ro + "].all(ro, size(ro) == 0 || " + c.Expression + ")"
		c.MessageExpression = "[" + ro + "].map(ro, " + c.MessageExpression + ")[0]"
		out = append(out, c)
	}
	return out
}
