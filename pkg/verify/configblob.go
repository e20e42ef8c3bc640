package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sealgate/sealgate/pkg/rules"
)

// Bounds of an image config read, beyond the size bound on every registry response.
const (
	// maxConfigPlatforms bounds the platforms of one OS read from a multi-platform image. An index
	// with more fails closed rather than judging some platforms only.
	maxConfigPlatforms = 16
	// maxConfigEnv and maxConfigEnvBytes bound the environment kept of one image, all platforms
	// together (a cached config holds at most this much); the rest is counted in EnvOmitted.
	maxConfigEnv      = 256
	maxConfigEnvBytes = 32 << 10
)

// errNotImage marks content that is not a container image the kubelet could run; it is about the
// digest, not the registry, so it is cached like a verification failure.
var errNotImage = errors.New("not a container image")

// readConfig reads the config of repository@digest: the image's, or for a multi-platform image the
// config of every platform of the OS os (the node that will run the pod is unknown at admission;
// see rules.ImageConfig). Requests: the manifest, then one config blob per image, plus one manifest
// per platform for an index; the config's digest is checked against its manifest.
func (r *registry) readConfig(ctx context.Context, repository, digest, os string, kc authn.Keychain) (*rules.ImageConfig, error) {
	reg, _, _ := strings.Cut(repository, "/")
	d, err := name.NewDigest(repository+"@"+digest, r.nameOptions(reg)...)
	if err != nil {
		return nil, err
	}
	ropts := r.remoteOptions(ctx, kc)
	// One puller for the whole read: the registry is pinged and authenticated once.
	p, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, err
	}
	ropts = append(ropts, remote.Reuse(p))
	desc, err := remote.Get(d, ropts...)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", describeRegistryError(err))
	}
	out := &rules.ImageConfig{Digest: digest}
	acc := &envBudget{}
	switch {
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("reading the manifest: %w", describeRegistryError(err))
		}
		pc, err := r.imageConfig(img, "")
		if err != nil {
			return nil, err
		}
		acc.add(out, pc, "")
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading the image index: %w", describeRegistryError(err))
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading the image index: %w", describeRegistryError(err))
		}
		picked, all := platformsFor(im.Manifests, os)
		if len(picked) == 0 {
			return nil, fmt.Errorf("%w for OS %q: its index lists no such platform (it lists %s)", errNotImage, os, listOrNone(all))
		}
		if len(picked) > maxConfigPlatforms {
			return nil, fmt.Errorf("its index lists %d %s platforms and sealgate reads at most %d: it cannot judge them all", len(picked), os, maxConfigPlatforms)
		}
		for _, m := range picked {
			if m.MediaType.IsIndex() {
				return nil, fmt.Errorf("%w: platform %s is a nested image index, which sealgate does not read", errNotImage, platformName(m))
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading the manifest of platform %s: %w", platformName(m), describeRegistryError(err))
			}
			pc, err := r.imageConfig(img, platformName(m))
			if err != nil {
				return nil, err
			}
			acc.add(out, pc, platformName(m))
		}
	default:
		return nil, fmt.Errorf("%w: the manifest's media type is %q", errNotImage, desc.MediaType)
	}
	return out, nil
}

// imageConfig reads and parses the config blob of one image manifest.
func (r *registry) imageConfig(img v1.Image, platform string) (*v1.ConfigFile, error) {
	where := "the image config"
	if platform != "" {
		where += " of platform " + platform
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", describeRegistryError(err))
	}
	switch m.Config.MediaType {
	case types.OCIConfigJSON, types.DockerConfigJSON:
	default:
		// An artifact (a Helm chart, a signature) has a config of its own kind, without a user.
		return nil, fmt.Errorf("%w: %s has media type %q", errNotImage, where, m.Config.MediaType)
	}
	if m.Config.Size > r.opts.MaxResponseBytes {
		// Declared in the manifest, so refused before any byte is read.
		return nil, fmt.Errorf("%s is %d bytes, over sealgate's limit of %d: %w", where, m.Config.Size, r.opts.MaxResponseBytes, errTooLarge)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", where, describeRegistryError(err))
	}
	return cf, nil
}

// platformsFor returns the entries of an index that can run on os, in index order, and every
// platform listed (for a message). Entries without a platform are kept, since nothing says they
// cannot run; attestation manifests (platform unknown/unknown) and other OSes are not.
func platformsFor(ms []v1.Descriptor, os string) (picked []v1.Descriptor, all []string) {
	for _, m := range ms {
		if m.Platform != nil {
			all = append(all, m.Platform.String())
		}
		if !m.MediaType.IsImage() && !m.MediaType.IsIndex() {
			continue // an artifact listed in the index
		}
		if m.Platform == nil || m.Platform.OS == os {
			picked = append(picked, m)
		}
	}
	return picked, all
}

func platformName(m v1.Descriptor) string {
	if m.Platform == nil {
		return "(unspecified) " + m.Digest.String()
	}
	return m.Platform.String()
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "no platform"
	}
	const max = 8
	if len(s) > max {
		return strings.Join(s[:max], ", ") + fmt.Sprintf(", … (%d more)", len(s)-max)
	}
	return strings.Join(s, ", ")
}

// envBudget keeps an image's environment within maxConfigEnv entries and maxConfigEnvBytes.
type envBudget struct {
	entries, bytes int
}

// add records one platform's config in out: merged with an earlier platform of the same user and
// environment, or as a new entry within the budget.
func (b *envBudget) add(out *rules.ImageConfig, cf *v1.ConfigFile, platform string) {
	user := rules.Truncate(cf.Config.User, rules.MaxValueBytes)
	for i := range out.Configs {
		c := &out.Configs[i]
		if c.User == user && c.EnvOmitted == 0 && slices.Equal(c.Env, cf.Config.Env) {
			if platform != "" {
				c.Platforms = append(c.Platforms, platform)
			}
			return
		}
	}
	pc := rules.PlatformConfig{User: user}
	if platform != "" {
		pc.Platforms = []string{platform}
	}
	for _, e := range cf.Config.Env {
		if b.entries >= maxConfigEnv || b.bytes+len(e) > maxConfigEnvBytes {
			pc.EnvOmitted++
			continue
		}
		b.entries++
		b.bytes += len(e)
		pc.Env = append(pc.Env, e)
	}
	out.Configs = append(out.Configs, pc)
}
