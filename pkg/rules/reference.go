package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap/celimage"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// imageReference denies image references that cannot be parsed, under any policy that has image or
// signature rules: an image sealgate cannot parse is an image it cannot vouch for. The other image
// rules skip such images, so each bad reference is reported once.
//
// Reads: spec.{containers,initContainers,ephemeralContainers}[*].image, spec.volumes[*].image.reference.
var imageReference = register(Def[struct{}]{
	ID:   "images.reference",
	Name: "Image references must parse",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		if s.Images == nil && len(s.Signatures) == 0 {
			return nil, nil
		}
		return &struct{}{}, nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err == nil {
				continue
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" has an "+im.Err.Error(),
					"use a reference such as registry.example.com/team/app:1.2.3@sha256:<digest>")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celImageCheck(celimage.ValidImageCEL, func(owner, img string) string {
			return owner + " + ' has an image reference that does not parse: ' + " + celQuote(img)
		}, "use a reference such as registry.example.com/team/app:1.2.3@sha256:<digest>", false, celNoteIPv6)
	},
})
