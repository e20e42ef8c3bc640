package rules

import (
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/policy"
)

// allowedRegistries implements spec.images.allowedRegistries: every image must match one of the
// allowlist patterns, matched on the parsed, normalized reference (never a raw string prefix). An
// image no pattern mentions is denied.
//
// Reads: every container image and image volume reference.
// Allowed: references whose registry and repository match a pattern.
var allowedRegistries = Rule{
	ID:   "images.allowedRegistries",
	Name: "Images come from allowed registries",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Images == nil || p.Images.Allowed == nil {
			return
		}
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil || AllowedImage(p, im) {
				continue
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" uses image "+quote(im.Ref.Name())+", which no allowed pattern matches",
					"use an image matching one of "+patternList(p))})
		}
	},
}

// AllowedImage reports whether the policy's allowlist admits the image. Images that fail this are
// never sent to a registry for signature verification.
func AllowedImage(p *policy.Policy, im *Image) bool {
	if p.Images == nil || p.Images.Allowed == nil {
		return true
	}
	for _, pat := range p.Images.Allowed {
		if pat.Match(im.Ref) {
			return true
		}
	}
	return false
}

func patternList(p *policy.Policy) string {
	const max = 5
	var b strings.Builder
	for i, pat := range p.Images.Allowed {
		if i == max {
			b.WriteString(", … (" + strconv.Itoa(len(p.Images.Allowed)-max) + " more)")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(pat.String()))
	}
	return b.String()
}
