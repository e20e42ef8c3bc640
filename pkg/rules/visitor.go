package rules

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
)

// ContainerKind is which list of the pod spec a container is in.
type ContainerKind uint8

const (
	// Regular is spec.containers.
	Regular ContainerKind = iota
	// Init is spec.initContainers.
	Init
	// Ephemeral is spec.ephemeralContainers.
	Ephemeral
)

// Field is the pod spec field that holds containers of this kind.
func (k ContainerKind) Field() string {
	switch k {
	case Init:
		return "initContainers"
	case Ephemeral:
		return "ephemeralContainers"
	default:
		return "containers"
	}
}

// Container is one container with where it is. Ephemeral containers are presented as Containers (the
// types share their fields), as the upstream pod-security library does.
type Container struct {
	*corev1.Container
	Kind  ContainerKind
	Index int
	root  string
}

// Path returns the field path of the container, or of a field under it: Path("securityContext", "privileged").
func (c *Container) Path(fields ...string) string {
	n := len(c.root) + len(c.Kind.Field()) + 8
	for _, f := range fields {
		n += len(f) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, c.root...)
	b = append(b, '.')
	b = append(b, c.Kind.Field()...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(c.Index), 10)
	b = append(b, ']')
	for _, f := range fields {
		b = append(b, '.')
		b = append(b, f...)
	}
	return string(b)
}

// Image is an image reference used by the pod: a container's image or an image volume's reference.
type Image struct {
	// Raw is the reference as written.
	Raw string
	// Ref is the parsed reference; valid only when Err is nil.
	Ref imageref.Reference
	Err error
	// Container is set for container images; Volume for image volumes.
	Container *Container
	Volume    *corev1.Volume
	volIndex  int
	root      string
}

// Path is the field path of the reference.
func (im *Image) Path() string {
	if im.Container != nil {
		return im.Container.Path("image")
	}
	return im.root + ".volumes[" + strconv.Itoa(im.volIndex) + "].image.reference"
}

// Owner names what uses the image in messages: `container "app"` or `image volume "data"`.
func (im *Image) Owner() string {
	if im.Container != nil {
		return "container " + quote(im.Container.Name)
	}
	return "image volume " + quote(im.Volume.Name)
}

// OwnerName is the container or volume name.
func (im *Image) OwnerName() string {
	if im.Container != nil {
		return im.Container.Name
	}
	return im.Volume.Name
}

// Target is one pod spec under evaluation, with its field paths. It is built once per request and
// shared by every policy and rule; it is not safe for concurrent use.
type Target struct {
	// Meta is the pod's (or pod template's) metadata; Spec its spec.
	Meta *metav1.ObjectMeta
	Spec *corev1.PodSpec
	// SpecPath is the field path of Spec in the object: "spec", "spec.template.spec", ...
	SpecPath string
	// MetaPath is the field path of Meta: "metadata", "spec.template.metadata", ...
	MetaPath string
	// Namespace is where the object lives (a pod template's metadata names none); set by the engine.
	Namespace string
	// Policy is the policy whose rules are running; set by the engine before each policy's rules,
	// for the checks that must ask what another rule of it decides (AllowedImage).
	Policy *policy.Policy
	// RegistrySession is the registry client's state for this request (pkg/verify): tags resolved,
	// pull secrets read, the request's deadline, shared by signature checks and image-config reads.
	RegistrySession any

	containers []Container
	images     []Image
	parsed     bool

	// imageConfigs reads image configs for rules that ask (target_imageconfig.go).
	imageConfigs imageConfigs
}

// NewTarget walks the pod spec once: every container, init container and ephemeral container.
func NewTarget(meta *metav1.ObjectMeta, spec *corev1.PodSpec, specPath, metaPath string) *Target {
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	t := &Target{Meta: meta, Spec: spec, SpecPath: specPath, MetaPath: metaPath}
	n := len(spec.Containers) + len(spec.InitContainers) + len(spec.EphemeralContainers)
	t.containers = make([]Container, 0, n)
	for i := range spec.InitContainers {
		t.containers = append(t.containers, Container{Container: &spec.InitContainers[i], Kind: Init, Index: i, root: specPath})
	}
	for i := range spec.Containers {
		t.containers = append(t.containers, Container{Container: &spec.Containers[i], Kind: Regular, Index: i, root: specPath})
	}
	for i := range spec.EphemeralContainers {
		c := (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon)
		t.containers = append(t.containers, Container{Container: c, Kind: Ephemeral, Index: i, root: specPath})
	}
	return t
}

// Containers returns every container of the pod: init containers, containers, ephemeral containers.
func (t *Target) Containers() []Container { return t.containers }

// Images returns every image the pod uses, parsed once: container images, then image volumes.
func (t *Target) Images() []Image {
	if t.parsed {
		return t.images
	}
	t.parsed = true
	n := len(t.containers)
	for i := range t.Spec.Volumes {
		if t.Spec.Volumes[i].Image != nil {
			n++
		}
	}
	t.images = make([]Image, 0, n)
	for i := range t.containers {
		c := &t.containers[i]
		ref, err := imageref.Parse(c.Image)
		t.images = append(t.images, Image{Raw: c.Image, Ref: ref, Err: err, Container: c})
	}
	for i := range t.Spec.Volumes {
		v := &t.Spec.Volumes[i]
		if v.Image == nil {
			continue
		}
		ref, err := imageref.Parse(v.Image.Reference)
		t.images = append(t.images, Image{Raw: v.Image.Reference, Ref: ref, Err: err, Volume: v, volIndex: i, root: t.SpecPath})
	}
	return t.images
}

// Path joins a field path under the pod spec: t.Path("securityContext", "runAsUser").
func (t *Target) Path(fields ...string) string {
	p := t.SpecPath
	for _, f := range fields {
		p += "." + f
	}
	return p
}
