package rules

import (
	"github.com/sealgate/sealgate/pkg/vap/celimage"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allowedRegistries implements spec.images.allowedRegistries: every image must match one of the
// allowlist patterns, matched on the parsed, normalized reference (never a raw string prefix). An
// image no pattern mentions is denied. A pattern pinned to a tag allows that tag only, and not that
// tag beside a digest, which could be any image of the repository (imageref.Pattern.Match).
//
// Reads: every container image and image volume reference.
// Allowed: references whose registry and repository match a pattern, and its tag or digest if the
// pattern pins one.
var allowedRegistries = register(Def[allowlist]{
	ID:   "images.allowedRegistries",
	Name: "Images come from allowed registries",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*allowlist, field.ErrorList) {
		return compileAllowlist(s), nil
	},
	Check: func(a *allowlist, t *Target, out *Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil || a.allows(im) {
				continue
			}
			// The repository is all a reader needs, unless some pattern pins a tag or digest.
			shown := im.Ref.Name()
			if a.pinned {
				shown = im.Ref.String()
			}
			fix := "use an image matching one of " + patternList(a.patterns)
			if im.Ref.Tag != "" && im.Ref.Digest != "" && a.mentions(im) {
				fix = "an entry pinned to tag " + quote(im.Ref.Tag) + " does not allow a digest beside it, because the digest is what runs: " +
					"allow " + quote(im.Ref.Name()+"@"+im.Ref.Digest) + " in spec.images.allowedRegistries, or reference the image by tag alone"
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" uses image "+quote(shown)+", which no allowed pattern matches", fix)})
		}
	},
	CEL: func(a *allowlist) []CELCheck {
		return celImageCheck(func(img string) string { return celimage.AllowedImageCEL(img, a.patterns) }, func(owner, img string) string {
			return owner + " + ' uses image ' + " + celQuote(img) + " + ', which no allowed pattern matches'"
		}, "use an image matching one of "+patternList(a.patterns), false, celNoteImages)
	},
})

// allowlist is the compiled spec.images.allowedRegistries.
type allowlist struct {
	patterns []imageref.Pattern
	// pinned is set when a pattern pins a tag or digest, so that messages show them.
	pinned bool
}

// compileAllowlist compiles spec.images.allowedRegistries; nil when unset.
func compileAllowlist(s *v1alpha1.PolicySpec) *allowlist {
	if s.Images == nil || s.Images.AllowedRegistries == nil {
		return nil
	}
	// The patterns were validated with the spec (v1alpha1.Validate).
	a := &allowlist{patterns: make([]imageref.Pattern, len(s.Images.AllowedRegistries))}
	for i, raw := range s.Images.AllowedRegistries {
		a.patterns[i], _ = imageref.CompilePattern(raw)
		a.pinned = a.pinned || a.patterns[i].Pinned()
	}
	return a
}

func (a *allowlist) allows(im *Image) bool {
	for _, pat := range a.patterns {
		if pat.Match(im.Ref) {
			return true
		}
	}
	return false
}

// mentions reports whether a pattern would match the image if a tag beside a digest counted.
func (a *allowlist) mentions(im *Image) bool {
	for _, pat := range a.patterns {
		if pat.Mentions(im.Ref) {
			return true
		}
	}
	return false
}

// AllowedImage reports whether the policy's registry rules admit the image: the allowlist (if any)
// allows it and no deny pattern matches it. Images that fail this are denied already and are never
// sent to a registry for signature verification.
func AllowedImage(p *policy.Policy, im *Image) bool {
	if a := config[allowlist](p, &allowedRegistries); a != nil && !a.allows(im) {
		return false
	}
	d := config[denylist](p, &deniedRegistries)
	return d == nil || d.denying(im) == nil
}

func patternList(pats []imageref.Pattern) string {
	const max = 5
	var b strings.Builder
	for i, pat := range pats {
		if i == max {
			b.WriteString(", … (" + strconv.Itoa(len(pats)-max) + " more)")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(pat.String()))
	}
	return b.String()
}
