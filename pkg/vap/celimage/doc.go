// Package celimage compiles sealgate's image rules to ValidatingAdmissionPolicy CEL, so that the API
// server keeps enforcing them while the webhook is down (issue 12). This file set covers the
// image rules; their verdicts must equal pkg/imageref's, and where they cannot, deny more.
//
// # Image references in CEL
//
// The API server offers no reference parser to CEL, only string functions and RE2 regexes
// (matches, find). Rather than normalizing a reference with CEL string surgery (split, indexOf,
// substring: long expressions, each step a chance to differ from imageref), every check is a few
// regexes over the image exactly as written, each encoding one part of imageref's normalization:
//
//   - ValidImageCEL is true exactly when imageref.Parse accepts the image. One regex is the
//     grammar (docker's host rule included: a first component is a registry only if a '/'
//     follows it and it has a '.' or a port or is localhost). Three checks a regular grammar
//     cannot carry alone are separate: Docker Hub's host in lower case only, a bare 64-hex name
//     (an image ID) refused, and the normalized name at most 255 characters, computed from the
//     written name's length and its spelling ("nginx" gains "docker.io/library/",
//     "index.docker.io/x/y" loses "index."). It first tests size() against
//     MaxValidReferenceLength, the longest reference Parse accepts, so no regex runs over a
//     longer string and the cost stays bounded whatever the object holds.
//   - PatternRegexes turns a compiled imageref.Pattern into regexes over the raw reference that
//     match every spelling imageref normalizes onto the pattern: the registry in any case (hosts
//     are case-insensitive), with its port exactly; for Docker Hub "docker.io/",
//     "index.docker.io/" or no registry at all, and a single component c read as "library/c"; "*"
//     as one path component, "**" as any number; the pinned tag (no tag means "latest") or
//     digest. Match (allowlists) and Mentions (deny-lists) differ only in whether a digest may
//     follow a pinned tag. The regex is only meaningful for a valid reference, so it is always
//     used after ValidImageCEL.
//   - AllowedImageCEL (spec.images.allowedRegistries), NotDeniedImageCEL
//     (spec.images.deniedRegistries), NotLatestImageCEL (spec.images.disallowLatestTag) and
//     DigestImageCEL (spec.images.requireDigest) each return true when the image is allowed.
//
// Each takes the CEL expression of one image (such as "c.image" inside
// object.spec.containers.all(c, ...)) and repeats it, so it must be a plain field selection.
//
// # Exact, and where it is conservative
//
// Every check includes ValidImageCEL, so each one alone denies an image imageref cannot parse,
// which the webhook's rule does not (it leaves that to images.reference). Compiled together with
// images.reference (as ValidImageCEL), which the webhook runs under any policy with image rules,
// the verdict for the pod is the same; alone, a check is conservative on invalid images.
//
// Otherwise the checks are exact, with one exception: a registry written as an IPv6 address
// ("[::1]:5000/app") is refused, because imageref rewrites such hosts to their canonical form
// (RFC 5952), which regexes cannot do, and checks the address, which they can do only at great
// length. Such images are denied; patterns on IPv6 registries never match.
//
// The differential test (cel_imageref_diff_test.go) evaluates the generated CEL with the VAP
// plugin's own compiler and environment on imageref's test corpus and on generated spellings,
// requires exact agreement outside IPv6 hosts and no under-denial anywhere, and prints the
// figures; FuzzImageCEL does the same on arbitrary strings. TestImageCELCost reports the cost.
package celimage
