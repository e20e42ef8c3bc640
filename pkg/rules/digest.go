package rules

import (
	"github.com/sealgate/sealgate/pkg/policy"
)

// requireDigest implements spec.images.requireDigest: every image is pinned by digest, so that what
// was reviewed (and signed) is what runs.
//
// Reads: every container image and image volume reference.
var requireDigest = Rule{
	ID:   "images.requireDigest",
	Name: "Images are pinned by digest",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Images == nil || !p.Images.RequireDigest {
			return
		}
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
}
