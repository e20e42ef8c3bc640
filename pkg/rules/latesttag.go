package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap/celimage"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// disallowLatestTag implements spec.images.disallowLatestTag: ":latest" and untagged references
// (which mean ":latest") move under the workload's feet. A reference pinned by digest is exact even
// when its tag is "latest", so it is allowed.
//
// Reads: every container image and image volume reference.
var disallowLatestTag = register(Def[struct{}]{
	ID:   "images.disallowLatestTag",
	Name: "Images are not :latest or untagged",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Images != nil && s.Images.DisallowLatestTag), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil || im.Ref.Digest != "" || !im.Ref.IsLatest() {
				continue
			}
			what := "uses the :latest tag"
			if im.Ref.Tag == "" {
				what = "has no tag, which means :latest"
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" image "+quote(im.Raw)+" "+what,
					"use a version tag or a digest, e.g. "+im.Ref.Name()+":1.2.3")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celImageCheck(celimage.NotLatestImageCEL, func(owner, img string) string {
			return owner + " + ' image ' + " + celQuote(img) + " + ' is :latest or has no tag, which means :latest'"
		}, "use a version tag or a digest", false, celNoteImages)
	},
})
