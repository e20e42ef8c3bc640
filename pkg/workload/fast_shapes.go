package workload

import (
	"reflect"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

func unmarshalMeta(dec *jsontext.Decoder, m *meta) error {
	return decodeObject(dec, metaType, m, metaMember)
}

func metaMember(dec *jsontext.Decoder, m *meta, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &m.Name)
	case "generateName":
		err = str(dec, &m.GenerateName)
	case "namespace":
		err = str(dec, &m.Namespace)
	case "labels":
		err = stringMap(dec, &m.Labels)
	case "annotations":
		err = stringMap(dec, &m.Annotations)
	case "uid":
		err = identity(dec, m, func() error { return str(dec, &m.UID) })
	case "resourceVersion":
		err = identity(dec, m, func() error { return str(dec, &m.ResourceVersion) })
	case "ownerReferences":
		err = identity(dec, m, func() error { return json.UnmarshalDecode(dec, &m.OwnerReferences) })
	default:
		err = skipValue(dec)
	}
	return err
}

// identity reads an identity member with read when the caller asked for it (DecodeListed), and
// skips it otherwise.
func identity(dec *jsontext.Decoder, m *meta, read func() error) error {
	if !m.identity {
		return skipValue(dec)
	}
	return read()
}

func unmarshalPodTemplate(dec *jsontext.Decoder, s *podTemplate) error {
	return decodeObject(dec, podTemplateType, s, podTemplateMember)
}

func podTemplateMember(dec *jsontext.Decoder, s *podTemplate, name []byte) (err error) {
	switch string(name) {
	case "metadata":
		err = unmarshalMeta(dec, &s.Metadata)
	case "spec":
		err = unmarshalPodSpec(dec, &s.Spec)
	default:
		err = skipValue(dec)
	}
	return err
}

func unmarshalTemplateSpec(dec *jsontext.Decoder, s *templateSpec) error {
	return decodeObject(dec, templateSpecType, s, templateSpecMember)
}

func templateSpecMember(dec *jsontext.Decoder, s *templateSpec, name []byte) error {
	if string(name) == "template" {
		return unmarshalPodTemplate(dec, &s.Template)
	}
	return skipValue(dec)
}

func unmarshalTemplateShape(dec *jsontext.Decoder, s *templateShape) error {
	return decodeObject(dec, templateShapeType, s, templateShapeMember)
}

func templateShapeMember(dec *jsontext.Decoder, s *templateShape, name []byte) (err error) {
	switch string(name) {
	case "metadata":
		err = unmarshalMeta(dec, &s.Metadata)
	case "spec":
		err = unmarshalTemplateSpec(dec, &s.Spec)
	default:
		err = skipValue(dec)
	}
	return err
}

func unmarshalPodTemplateShape(dec *jsontext.Decoder, s *podTemplateShape) error {
	return decodeObject(dec, podTemplateShapeType, s, podTemplateShapeMember)
}

func podTemplateShapeMember(dec *jsontext.Decoder, s *podTemplateShape, name []byte) (err error) {
	switch string(name) {
	case "metadata":
		err = unmarshalMeta(dec, &s.Metadata)
	case "template":
		err = unmarshalPodTemplate(dec, &s.Template)
	default:
		err = skipValue(dec)
	}
	return err
}

func unmarshalCronJobShape(dec *jsontext.Decoder, s *cronJobShape) error {
	return decodeObject(dec, cronJobShapeType, s, cronJobShapeMember)
}

func cronJobShapeMember(dec *jsontext.Decoder, s *cronJobShape, name []byte) (err error) {
	switch string(name) {
	case "metadata":
		err = unmarshalMeta(dec, &s.Metadata)
	case "spec":
		err = unmarshalCronJobSpec(dec, &s.Spec)
	default:
		err = skipValue(dec)
	}
	return err
}

func unmarshalCronJobSpec(dec *jsontext.Decoder, s *cronJobSpec) error {
	return decodeObject(dec, cronJobSpecType, s, cronJobSpecMember)
}

func cronJobSpecMember(dec *jsontext.Decoder, s *cronJobSpec, name []byte) error {
	if string(name) == "jobTemplate" {
		return unmarshalJobTemplate(dec, &s.JobTemplate)
	}
	return skipValue(dec)
}

func unmarshalJobTemplate(dec *jsontext.Decoder, s *jobTemplate) error {
	return decodeObject(dec, jobTemplateType, s, jobTemplateMember)
}

func jobTemplateMember(dec *jsontext.Decoder, s *jobTemplate, name []byte) error {
	if string(name) == "spec" {
		return unmarshalTemplateSpec(dec, &s.Spec)
	}
	return skipValue(dec)
}

var (
	metaType             = reflect.TypeFor[meta]()
	podTemplateType      = reflect.TypeFor[podTemplate]()
	templateSpecType     = reflect.TypeFor[templateSpec]()
	templateShapeType    = reflect.TypeFor[templateShape]()
	podTemplateShapeType = reflect.TypeFor[podTemplateShape]()
	cronJobShapeType     = reflect.TypeFor[cronJobShape]()
	cronJobSpecType      = reflect.TypeFor[cronJobSpec]()
	jobTemplateType      = reflect.TypeFor[jobTemplate]()

	podSpecType     = reflect.TypeFor[corev1.PodSpec]()
	containerType   = reflect.TypeFor[corev1.Container]()
	volumeType      = reflect.TypeFor[corev1.Volume]()
	podSpecFields   = fields(podSpecType)
	containerFields = fields(containerType)
	volSourceFields = fields(reflect.TypeFor[corev1.VolumeSource]())

	portType           = reflect.TypeFor[corev1.ContainerPort]()
	probeType          = reflect.TypeFor[corev1.Probe]()
	securityType       = reflect.TypeFor[corev1.SecurityContext]()
	podSecurityType    = reflect.TypeFor[corev1.PodSecurityContext]()
	podSecurityFields  = fields(podSecurityType)
	resourcesType      = reflect.TypeFor[corev1.ResourceRequirements]()
	httpGetType        = reflect.TypeFor[corev1.HTTPGetAction]()
	tcpSocketType      = reflect.TypeFor[corev1.TCPSocketAction]()
	portFields         = fields(portType)
	probeFields        = fields(probeType)
	securityFields     = fields(securityType)
	resourcesFields    = fields(resourcesType)
	httpGetFields      = fields(httpGetType)
	capabilitiesType   = reflect.TypeFor[corev1.Capabilities]()
	seccompType        = reflect.TypeFor[corev1.SeccompProfile]()
	capabilitiesFields = fields(capabilitiesType)
	seccompFields      = fields(seccompType)
	tcpSocketFields    = fields(tcpSocketType)
	envVarType         = reflect.TypeFor[corev1.EnvVar]()
	envVarFields       = fields(envVarType)
	volumeMountType    = reflect.TypeFor[corev1.VolumeMount]()
	volumeMountFields  = fields(volumeMountType)
)
