package rules

import (
	"github.com/sealgate/sealgate/pkg/vap/celimage"
	"strconv"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxDeniedRegistries is the CRD schema's MaxItems for spec.images.deniedRegistries.
const maxDeniedRegistries = 256

// deniedRegistries implements spec.images.deniedRegistries: an image that any deny pattern matches
// is denied, whatever spec.images.allowedRegistries allows (deny wins), matched on the parsed,
// normalized reference as the allowlist is. A pattern pinned to a tag also matches that tag beside
// a digest, since the reference claims to be that tag (imageref.Pattern.Mentions); nothing tells
// which tag a bare digest was pushed as, so only a repository or a digest pattern keeps it out.
// AllowedImage counts a denied image as not allowed, so that it never costs a registry call.
//
// Reads: every container image and image volume reference.
// Allowed: references that no deny pattern matches.
var deniedRegistries = register(Def[denylist]{
	ID:   "images.deniedRegistries",
	Name: "Images do not come from denied registries",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*denylist, field.ErrorList) {
		if s.Images == nil || len(s.Images.DeniedRegistries) == 0 {
			return nil, nil
		}
		path := spec.Child("images", "deniedRegistries")
		var errs field.ErrorList
		if n := len(s.Images.DeniedRegistries); n > maxDeniedRegistries {
			errs = append(errs, field.TooMany(path, n, maxDeniedRegistries))
		}
		d := &denylist{patterns: make([]imageref.Pattern, len(s.Images.DeniedRegistries))}
		for i, raw := range s.Images.DeniedRegistries {
			var err error
			if d.patterns[i], err = imageref.CompilePattern(raw); err != nil {
				errs = append(errs, field.Invalid(path.Index(i), raw, "invalid pattern: "+err.Error()))
			}
		}
		return d, errs
	},
	Check: func(d *denylist, t *Target, out *Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			if im.Err != nil {
				continue
			}
			pat := d.denying(im)
			if pat == nil {
				continue
			}
			what := im.Owner() + " uses image " + quote(im.Raw) + ", which denied pattern " + strconv.Quote(pat.String()) + " matches"
			fix := "use an image from a registry and repository that spec.images.deniedRegistries does not list"
			switch {
			case pat.Pinned() && im.Ref.Digest != "" && !pat.Match(im.Ref):
				what += " (a denied tag counts even beside a digest)"
				fix = "use another tag and its digest, or another image"
			case pat.Pinned():
				fix = "use another version of the image, or another image"
			}
			out.Add(Finding{Path: im.Path(), Container: im.OwnerName(), Message: found(what, fix)})
		}
	},
	CEL: func(d *denylist) []CELCheck {
		return celImageCheck(func(img string) string { return celimage.NotDeniedImageCEL(img, d.patterns) }, func(owner, img string) string {
			return owner + " + ' uses image ' + " + celQuote(img) + " + ', which a denied pattern matches'"
		}, "use an image from a registry and repository that spec.images.deniedRegistries does not list", false, celNoteImages)
	},
})

// denylist is the compiled spec.images.deniedRegistries.
type denylist struct {
	patterns []imageref.Pattern
}

// denying returns the first pattern that denies the image, nil if none does.
func (d *denylist) denying(im *Image) *imageref.Pattern {
	for i := range d.patterns {
		if d.patterns[i].Mentions(im.Ref) {
			return &d.patterns[i]
		}
	}
	return nil
}
