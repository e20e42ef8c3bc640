package rules

import (
	"strconv"

	"github.com/sealgate/sealgate/pkg/policy"
)

// requireDigest implements spec.images.requireDigest: every image is pinned by digest, so that what
// was reviewed (and signed) is what runs.
//
// Reads: every container image and image volume reference.
var requireDigest = Rule{
	ID:   "images.requireDigest",
	Name: "Images are pinned by digest",
	Check: func(p *policy.Policy, t *Target) []Finding {
		if p.Images == nil || !p.Images.RequireDigest {
			return nil
		}
		var out []Finding
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil || im.Ref.Digest != "" {
				continue
			}
			out = append(out, Finding{Path: im.Path(), Container: im.OwnerName(),
				Message: found(im.Owner()+" image "+strconv.Quote(im.Raw)+" is not pinned by digest",
					"reference it as "+im.Ref.WithDigest("sha256:<digest>")+" (crane digest or docker buildx imagetools inspect prints the digest)")})
		}
		return out
	},
}
