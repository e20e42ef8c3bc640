package rules

import (
	"github.com/sealgate/sealgate/pkg/policy"
)

// imageReference denies image references that cannot be parsed, under any policy that has image or
// signature rules: an image sealgate cannot parse is an image it cannot vouch for. The other image
// rules skip such images, so each bad reference is reported once.
//
// Reads: spec.{containers,initContainers,ephemeralContainers}[*].image, spec.volumes[*].image.reference.
var imageReference = Rule{
	ID:   "images.reference",
	Name: "Image references must parse",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Images == nil && len(p.Signatures) == 0 {
			return
		}
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err == nil {
				continue
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" has an invalid image reference: "+im.Err.Error(),
					"use a reference such as registry.example.com/team/app:1.2.3@sha256:<digest>")})
		}
	},
}
