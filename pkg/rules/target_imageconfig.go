package rules

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
)

// ImageConfig is what sealgate reads from an image's config blob: the user and environment a
// container of the image starts with unless the pod overrides them. The node's platform is unknown
// at admission (the scheduler picks the node later), so the reader reads the config of every
// platform of a multi-platform image that can run on the pod's OS, and a rule judges each: an
// image that would run as root on one architecture runs as root on that node.
type ImageConfig struct {
	// Digest is the digest whose config was read: the image manifest's, or the index's for a
	// multi-platform image.
	Digest string
	// Configs holds one entry per distinct config among the platforms read (platforms whose user
	// and environment are the same share an entry); never empty.
	Configs []PlatformConfig
}

// PlatformConfig is the config of one or more platforms of an image.
type PlatformConfig struct {
	// Platforms are the platforms with this config ("linux/amd64", "linux/arm64/v8"); empty for a
	// single-platform image.
	Platforms []string
	// User is the config's User ("", "root", "1000", "1000:1000", "app"), cut to MaxValueBytes.
	User string
	// Env holds the config's environment ("NAME=value"), the first entries up to the reader's
	// bounds; EnvOmitted counts the entries not kept.
	Env        []string
	EnvOmitted int
}

// Errors of Target.ImageConfig when no config is read; a rule tells them apart to word its finding.
var (
	// ErrImageConfigSkipped: the run was asked not to read image configs (`--skip-image-config`, or
	// the what-if estimate at policy apply time); its output says so.
	ErrImageConfigSkipped = errors.New("image configs are not read in this run")
	// ErrNoImageConfigReader: the engine has no registry client; rules fail closed on it.
	ErrNoImageConfigReader = errors.New("this sealgate has no registry client configured to read image configs")
)

// imageConfigs is how a Target reads image configs, with what it read so far: a config is read at
// most once per request, however many policies ask for it.
type imageConfigs struct {
	read func(*Image) (*ImageConfig, error)
	memo map[*Image]imageConfigResult
}

type imageConfigResult struct {
	cfg *ImageConfig
	err error
}

// SetImageConfigs sets the function that reads the config of one image of t. The engine sets it on
// each request's target, so that rules stay pure functions of the target: they ask, the engine's
// reader answers (from its cache, or the registry). Without it, ImageConfig answers
// ErrNoImageConfigReader.
func (t *Target) SetImageConfigs(read func(*Image) (*ImageConfig, error)) {
	t.imageConfigs = imageConfigs{read: read}
}

// ImageConfig returns the config of im, an image of t (from t.Images()). It is read only when a
// rule asks, and at most once per target; a rule must ask only about images it judges, since an
// answer may cost registry calls.
func (t *Target) ImageConfig(im *Image) (*ImageConfig, error) {
	ic := &t.imageConfigs
	if ic.read == nil {
		return nil, ErrNoImageConfigReader
	}
	if r, ok := ic.memo[im]; ok {
		return r.cfg, r.err
	}
	cfg, err := ic.read(im)
	if ic.memo == nil {
		ic.memo = make(map[*Image]imageConfigResult)
	}
	ic.memo[im] = imageConfigResult{cfg: cfg, err: err}
	return cfg, err
}

// PodOS is the OS the pod's containers run on: spec.os.name, else the node selector's
// kubernetes.io/os, else linux (a pod that names no OS runs on linux nodes in any cluster that keeps
// Windows nodes for the pods that select them, which is how Windows nodes are run).
func PodOS(spec *corev1.PodSpec) string {
	if spec.OS != nil && spec.OS.Name != "" {
		return string(spec.OS.Name)
	}
	if os := spec.NodeSelector[corev1.LabelOSStable]; os != "" {
		return os
	}
	return string(corev1.Linux)
}
