package rules

import (
	"strconv"
	"strings"
)

// CEL compilation (issue 12): a rule may say how its check reads as ValidatingAdmissionPolicy
// validations (Def.CEL), or why it cannot (Def.NoCEL). The expressions read the pod spec and its
// field path from two variables the compiler (pkg/vap) declares per kind, so that a rule writes its
// CEL once for every pod-bearing kind.

const (
	// CELSpec is the CEL expression of the pod spec: object.spec for a Pod,
	// object.spec.template.spec for a Deployment, and so on.
	CELSpec = "variables.spec"
	// CELSpecPath is the CEL expression of the pod spec's field path, as the webhook's messages
	// write it: "spec", "spec.template.spec", ...
	CELSpecPath = "variables.specPath"
	// CELGenerated and CELGeneratedInit are the CEL lists of the container (init container) names
	// that a custom kind's operator generates (workload.CustomKind.Generated): an entry with one of
	// them patches a container the object does not show, and is not judged; [] for other kinds.
	CELGenerated     = "variables.generated"
	CELGeneratedInit = "variables.generatedInit"
	// CELAnnotations is the CEL expression of the pod's annotations ({} when there are none), and
	// CELMetaPath that of the pod metadata's field path: "metadata", "spec.template.metadata", ...
	CELAnnotations = "variables.annotations"
	CELMetaPath    = "variables.metaPath"
)

// CELCheck is one validation of a ValidatingAdmissionPolicy that a rule compiles to.
type CELCheck struct {
	// Rule is the rule ID the check enforces; register fills it in.
	Rule string
	// Expression is true when the object is allowed. It reads CELSpec and CELSpecPath.
	Expression string
	// MessageExpression is a string: the field path of the first violation, ": ", what was found
	// and the fix, as the webhook's message says it. The compiler adds the policy and rule.
	MessageExpression string
	// Exact is set when the check denies exactly what the rule's Check denies; when not, it
	// denies more (conservative), never less, for the reason Note gives.
	Exact bool
	Note  string
}

// celOS is true for pods that declare spec.os.name=windows (windowsPod).
const celWindows = "(" + CELSpec + ".?os.?name.orValue('') == 'windows')"

// celLists are the container lists of a pod spec, in the order the Target visits them.
var celLists = []ContainerKind{Init, Regular, Ephemeral}

// celContainerCheck compiles a check of each container, one validation per container list.
// allowed is a CEL expression over the container variable c that is true when it is allowed;
// field is the path under the container that the message names; what is a CEL string expression
// over c saying what was found, and fix a plain text. unless, when set, is a CEL expression that
// exempts the whole pod (a Windows pod).
func celContainerCheck(kinds []ContainerKind, allowed, field, what, fix, unless string, exact bool) []CELCheck {
	return celEach(kinds, allowed, func(path string) string {
		return path + " + " + celText("."+field+": ") + " + " + what + " + " + celText("; "+fix)
	}, unless, exact)
}

// celEach compiles a check of each container, one validation per container list: allowed as in
// celContainerCheck, and message a function of the CEL expression of the container's field path
// that returns the CEL string of the whole message.
func celEach(kinds []ContainerKind, allowed string, message func(path string) string, unless string, exact bool) []CELCheck {
	var out []CELCheck
	for _, k := range kinds {
		judged := celJudged(k, allowed)
		expr := celList(k) + ".all(c, " + judged + ")"
		if unless != "" {
			expr = unless + " || " + expr
		}
		path := "(" + CELSpecPath + " + '." + k.Field() + "[' + string(i) + ']')"
		out = append(out, CELCheck{
			Expression:        expr,
			MessageExpression: celList(k) + ".transformList(i, c, !(" + judged + "), " + message(path) + ")[0]",
			Exact:             exact,
		})
	}
	return out
}

// celList is the CEL of the pod spec's container list of kind k: [] when it is absent, or null (a
// typed object's empty list reaches CEL as null: the API server's converter writes a nil slice so).
func celList(k ContainerKind) string {
	l := CELSpec + "." + k.Field()
	return "(has(" + l + ") && " + l + " != null ? " + l + " : [])"
}

// celGenerated is true for a container c of list k that a custom kind's operator generates: its
// entry only patches a container the object does not show, and the webhook does not judge it.
func celGenerated(k ContainerKind) string {
	switch k {
	case Regular:
		return "(c.?name.orValue('') in " + CELGenerated + ")"
	case Init:
		return "(c.?name.orValue('') in " + CELGeneratedInit + ")"
	}
	return "false"
}

// celJudged is allowed, a CEL expression over the container c of list k, as the webhook judges it:
// true for a container it does not judge (celGenerated). Every check of each container goes
// through it, so that no rule judges what the webhook leaves alone.
func celJudged(k ContainerKind, allowed string) string {
	return celGenerated(k) + " || (" + allowed + ")"
}

// celImageCheck compiles a check of every image: each container list's images and the image
// volumes' references, one validation per list. allowed is a function of the CEL expression of one
// image; what is a CEL string expression over owner (the CEL of Image.Owner) and img.
func celImageCheck(allowed func(img string) string, what func(owner, img string) string, fix string, exact bool, note string) []CELCheck {
	out := celEach(celLists, allowed("c.image"), func(path string) string {
		return path + " + '.image: ' + " + what(celOwner, "c.image") + " + " + celText("; "+fix)
	}, "", exact)
	vols := CELSpec + ".volumes"
	ref := "v.image.reference"
	owner := `'image volume "' + v.name + '"'`
	ok := "!has(v.image) || (has(v.image.reference) && " + allowed(ref) + ")"
	out = append(out, CELCheck{
		Expression: "!has(" + vols + ") || " + vols + ".all(v, " + ok + ")",
		MessageExpression: vols + ".transformList(i, v, !(" + ok + "), " + CELSpecPath + " + '.volumes[' + string(i) + '].image.reference: ' + " +
			what(owner, ref) + " + " + celText("; "+fix) + ")[0]",
		Exact: exact,
	})
	for i := range out {
		out[i].Note = note
	}
	return out
}

// celQuote is the CEL of quote for a value of the pod: quoted, and cut to about MaxValueBytes
// (CEL counts code points, not bytes). It does not escape: a message is text, not Go syntax.
func celQuote(v string) string {
	return `'"' + (size(` + v + `) > ` + strconv.Itoa(MaxValueBytes) + ` ? ` + v + `.substring(0, ` + strconv.Itoa(MaxValueBytes-1) + `) + '…' : ` + v + `) + '"'`
}

// Why the image checks are conservative (pkg/vap/celimage's doc).
const (
	celNoteIPv6   = "denies images on registries written as IPv6 addresses, which pkg/imageref accepts"
	celNoteImages = "also denies the invalid references images.reference denies, and images on registries written as IPv6 addresses"
)

// celOwner is the CEL of containerOwner: `container "app"`. Container names are DNS labels, so
// quoting them needs no escapes and never cuts them.
const celOwner = `'container "' + c.name + '"'`

// celText quotes a plain text as a CEL string literal.
func celText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// celTexts quotes each plain text as a CEL string literal.
func celTexts(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = celText(v)
	}
	return out
}

// celValues is the CEL of entries.values for a CEL list of strings: the first MaxListedValues
// quoted, then how many were not shown.
func celValues(list string) string {
	n := strconv.Itoa(MaxListedValues)
	return "(" + list + ".transformList(k, v, k < " + n + ", " + celQuote("v") + ").join(', ') + (size(" + list + ") > " + n +
		" ? ', … (' + string(size(" + list + ") - " + n + ") + ' more)' : ''))"
}

// celNamed is true when the CEL string x is one of names or starts with one of prefixes: an
// allowlist of exact names and "prefix*" entries; false when both are empty.
func celNamed(x string, names, prefixes []string) string {
	var alts []string
	if len(names) > 0 {
		alts = append(alts, x+" in ["+strings.Join(celTexts(names), ", ")+"]")
	}
	for _, p := range prefixes {
		alts = append(alts, x+".startsWith("+celText(p)+")")
	}
	if len(alts) == 0 {
		return "false"
	}
	return "(" + strings.Join(alts, " || ") + ")"
}
