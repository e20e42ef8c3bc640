package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap/celimage"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// requireDigest implements spec.images.requireDigest: every image is pinned by digest, so that what
// was reviewed (and signed) is what runs.
//
// Reads: every container image and image volume reference.
var requireDigest = register(Def[struct{}]{
	ID:   "images.requireDigest",
	Name: "Images are pinned by digest",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Images != nil && s.Images.RequireDigest), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil || im.Ref.Digest != "" {
				continue
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" image "+quote(im.Raw)+" is not pinned by digest",
					"reference it as "+im.Ref.WithDigest("sha256:<digest>")+" (crane digest or docker buildx imagetools inspect prints the digest)")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celImageCheck(celimage.DigestImageCEL, func(owner, img string) string {
			return owner + " + ' image ' + " + celQuote(img) + " + ' is not pinned by digest'"
		}, "reference it by digest, as name@sha256:<digest> (crane digest or docker buildx imagetools inspect prints the digest)", false, celNoteImages)
	},
})
