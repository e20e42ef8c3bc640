package rules

import (
	"errors"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// imageConfigRunAsRoot implements spec.imageConfig.runAsRoot: Forbid denies a container that would
// run as root, judging by its image's config where the pod leaves the user to the image. It is the
// case Pod Security cannot see, since it only reads the pod.
//
// The pod decides when the container's effective securityContext (the container's field, else the
// pod's) sets runAsUser, or sets runAsNonRoot: true; then no registry call is made. runAsUser: 0
// is reported (it runs as root whatever the image says); a non-zero runAsUser passes, and so does
// runAsNonRoot: true (the kubelet then refuses to start a container whose user is root or not a
// number). Otherwise the image's config is read (engine.ImageConfigs) and its USER judged:
//   - "", "0", "root", "0:<group>", "root:<group>": root, denied;
//   - a non-zero number ("1000", "1000:0"): allowed (the group does not make the user root);
//   - any other name ("nobody", "app"): denied. A name is resolved in the image's /etc/passwd,
//     where it may be UID 0, and the kubelet itself refuses runAsNonRoot for a non-numeric user
//     because it cannot verify it: the strictest safe reading is that it may be root.
//
// Every platform of a multi-platform image that can run on the pod's OS is judged (the node is not
// known at admission). A config that cannot be read (registry down, no access, not an image)
// fails closed: the finding says why and how to decide without the registry. Images the policy's
// allowlist or deny-list keeps out (AllowedImage) are never read; image volumes are not run, so not judged. Windows pods (PodOS)
// are not judged: their users are names (ContainerUser, ContainerAdministrator), which
// containers.runAsRoot and Pod Security's runAsNonRoot check cover.
//
// Reads: spec.{os,nodeSelector}, spec.securityContext.{runAsNonRoot,runAsUser},
// spec.{initContainers,containers,ephemeralContainers}[*].{image,securityContext.{runAsNonRoot,runAsUser}},
// and the config of each image whose user the pod leaves to the image.
// Allowed: a pod that forces non-root, or an image whose USER is a non-zero number on every platform.
var imageConfigRunAsRoot = register(Def[imageConfigRoot]{
	ID:   "imageConfig.runAsRoot",
	Name: "Images do not run containers as root",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*imageConfigRoot, field.ErrorList) {
		if s.ImageConfig == nil || s.ImageConfig.RunAsRoot != v1alpha1.Forbidden {
			return nil, nil
		}
		return &imageConfigRoot{}, nil
	},
	Check: func(r *imageConfigRoot, t *Target, out *Findings) {
		if PodOS(t.Spec) == string(corev1.Windows) {
			return
		}
		images := t.Images()
		for i := range images {
			im := &images[i]
			if im.Container == nil || im.Err != nil || (t.Policy != nil && !AllowedImage(t.Policy, im)) {
				continue
			}
			r.check(t, im, out)
		}
	},
	NoCEL: "it reads the image configuration from the registry, which CEL cannot fetch",
})

// imageConfigRoot is the compiled spec.imageConfig.runAsRoot. It needs nothing compiled: the images
// the policy's allow and deny lists keep out (AllowedImage) are never read.
type imageConfigRoot struct{}

func (r *imageConfigRoot) check(t *Target, im *Image, out *Findings) {
	c := im.Container
	uid, nonRoot, uidFromPod, nonRootFromPod := effectiveUser(t, c)
	switch {
	case uid != nil && *uid == 0:
		path, what := c.Path("securityContext", "runAsUser"), containerOwner(c)+" sets runAsUser: 0 (root)"
		if uidFromPod {
			path, what = t.Path("securityContext", "runAsUser"), containerOwner(c)+" runs as user 0 (root), set by the pod's securityContext.runAsUser"
		}
		out.Add(Finding{Path: path, Container: c.Name, Message: found(what, "set runAsUser to a non-zero UID")})
		return
	case uid != nil, nonRoot != nil && *nonRoot:
		return // the pod decides: no registry call
	}
	// The user is the image's. The path is where the pod would decide it instead. The message is
	// built only for a violation: the passing path allocates nothing.
	path := func() string { return c.Path("securityContext", "runAsNonRoot") }
	owner := func() string {
		what := containerOwner(c) + " sets neither runAsNonRoot nor runAsUser"
		switch {
		case nonRootFromPod:
			what = containerOwner(c) + " has runAsNonRoot: false from the pod's securityContext and no runAsUser"
		case nonRoot != nil:
			what = containerOwner(c) + " sets runAsNonRoot: false and no runAsUser"
		}
		return what + ", so it runs as the user of image " + quote(im.Raw)
	}
	const decide = "set securityContext.runAsUser to a non-zero UID or runAsNonRoot: true (then the image's config is not read)"
	cfg, err := t.ImageConfig(im)
	switch {
	case errors.Is(err, ErrImageConfigSkipped):
		return
	case errors.Is(err, ErrNoImageConfigReader):
		out.Add(Finding{Path: path(), Container: c.Name, Message: found(
			owner()+", and this sealgate has no registry client to read the image's config, so it fails closed",
			decide+", or give sealgate registry access (`sealgate check --skip-image-config` lints without it)")})
		return
	case err != nil:
		out.Add(Finding{Path: path(), Container: c.Name, Message: found(
			owner()+", and the image's config could not be read ("+err.Error()+"), so sealgate fails closed",
			decide+", or retry when the registry answers")})
		return
	}
	var bad *PlatformConfig
	var kind string
	others := 0
	for i := range cfg.Configs {
		pc := &cfg.Configs[i]
		k := rootUser(pc.User)
		if k == "" {
			continue
		}
		if bad == nil {
			bad, kind = pc, k
		} else {
			others += max(len(pc.Platforms), 1)
		}
	}
	if bad == nil {
		return
	}
	what := owner() + ", whose config"
	if len(bad.Platforms) > 0 {
		what += " for " + quoteEntries(bad.Platforms)
		if others > 0 {
			what += " (and " + count(others, "other platform", "other platforms") + ")"
		}
	}
	fix := "set securityContext.runAsUser to a non-zero UID, or rebuild the image with a numeric non-root USER"
	switch {
	case kind == rootByName:
		what += " sets USER " + quote(bad.User) + ", a user name that may be UID 0 in the image and that the kubelet cannot verify as non-root"
		fix = "set securityContext.runAsUser to a non-zero UID, or use a numeric USER in the image"
	case bad.User == "":
		what += " sets no USER, which means root"
	default:
		what += " sets USER " + quote(bad.User) + ", which is root"
	}
	out.Add(Finding{Path: path(), Container: c.Name, Message: found(what, fix)})
}

// How an image's USER runs the container as root.
const (
	rootByUser = "root"
	rootByName = "name"
)

// rootUser says whether an image config's USER ("user[:group]") runs as root: rootByUser for
// root, rootByName for a user name that may be root, "" for a non-zero UID.
func rootUser(user string) string {
	u, _, _ := strings.Cut(user, ":")
	switch u {
	case "", "root":
		return rootByUser
	}
	n, err := strconv.ParseUint(u, 10, 64)
	switch {
	case err != nil:
		return rootByName
	case n == 0:
		return rootByUser
	}
	return ""
}

// effectiveUser is the runAsUser and runAsNonRoot that apply to c: the container's, else the pod's,
// and whether each came from the pod.
func effectiveUser(t *Target, c *Container) (uid *int64, nonRoot *bool, uidFromPod, nonRootFromPod bool) {
	if sc := c.SecurityContext; sc != nil {
		uid, nonRoot = sc.RunAsUser, sc.RunAsNonRoot
	}
	if pod := t.Spec.SecurityContext; pod != nil {
		if uid == nil && pod.RunAsUser != nil {
			uid, uidFromPod = pod.RunAsUser, true
		}
		if nonRoot == nil && pod.RunAsNonRoot != nil {
			nonRoot, nonRootFromPod = pod.RunAsNonRoot, true
		}
	}
	return uid, nonRoot, uidFromPod, nonRootFromPod
}

// NeedsImageConfigs reports whether p enables a rule that reads image configs (the imageConfig.*
// rules), so that a front end sets up a registry client only when one may be asked.
func NeedsImageConfigs(p *policy.Policy) bool {
	for i := range registered {
		if strings.HasPrefix(registered[i].ID, "imageConfig.") && Enables(p, &registered[i]) {
			return true
		}
	}
	return false
}
