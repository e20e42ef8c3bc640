package rules

import (
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allowedRegistries implements spec.images.allowedRegistries: every image must match one of the
// allowlist patterns, matched on the parsed, normalized reference (never a raw string prefix). An
// image no pattern mentions is denied.
//
// Reads: every container image and image volume reference.
// Allowed: references whose registry and repository match a pattern.
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
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" uses image "+quote(im.Ref.Name())+", which no allowed pattern matches",
					"use an image matching one of "+patternList(a.patterns))})
		}
	},
})

// allowlist is the compiled spec.images.allowedRegistries.
type allowlist struct {
	patterns []imageref.Pattern
}

// compileAllowlist compiles spec.images.allowedRegistries; nil when unset. Rules that call a
// registry compile it too (imageConfig), since an image the allowlist denies must never cost one.
func compileAllowlist(s *v1alpha1.PolicySpec) *allowlist {
	if s.Images == nil || s.Images.AllowedRegistries == nil {
		return nil
	}
	// The patterns were validated with the spec (v1alpha1.Validate).
	pats := make([]imageref.Pattern, len(s.Images.AllowedRegistries))
	for i, raw := range s.Images.AllowedRegistries {
		pats[i], _ = imageref.CompilePattern(raw)
	}
	return &allowlist{patterns: pats}
}

func (a *allowlist) allows(im *Image) bool {
	for _, pat := range a.patterns {
		if pat.Match(im.Ref) {
			return true
		}
	}
	return false
}

// AllowedImage reports whether the policy's image rules admit the image. Images that fail this are
// never sent to a registry for signature verification.
func AllowedImage(p *policy.Policy, im *Image) bool {
	a := config[allowlist](p, &allowedRegistries)
	return a == nil || a.allows(im)
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
