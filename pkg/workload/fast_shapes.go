package workload

import (
	"reflect"

	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

func unmarshalMeta(dec *jsontext.Decoder, m *meta) error {
	ok, err := beginObject(dec, metaType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
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
		default:
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalPodTemplate(dec *jsontext.Decoder, s *podTemplate) error {
	ok, err := beginObject(dec, podTemplateType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		switch string(name) {
		case "metadata":
			err = unmarshalMeta(dec, &s.Metadata)
		case "spec":
			err = unmarshalPodSpec(dec, &s.Spec)
		default:
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalTemplateSpec(dec *jsontext.Decoder, s *templateSpec) error {
	ok, err := beginObject(dec, templateSpecType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		if string(name) == "template" {
			err = unmarshalPodTemplate(dec, &s.Template)
		} else {
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalTemplateShape(dec *jsontext.Decoder, s *templateShape) error {
	ok, err := beginObject(dec, templateShapeType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		switch string(name) {
		case "metadata":
			err = unmarshalMeta(dec, &s.Metadata)
		case "spec":
			err = unmarshalTemplateSpec(dec, &s.Spec)
		default:
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalPodTemplateShape(dec *jsontext.Decoder, s *podTemplateShape) error {
	ok, err := beginObject(dec, podTemplateShapeType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		switch string(name) {
		case "metadata":
			err = unmarshalMeta(dec, &s.Metadata)
		case "template":
			err = unmarshalPodTemplate(dec, &s.Template)
		default:
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalCronJobShape(dec *jsontext.Decoder, s *cronJobShape) error {
	ok, err := beginObject(dec, cronJobShapeType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		switch string(name) {
		case "metadata":
			err = unmarshalMeta(dec, &s.Metadata)
		case "spec":
			err = unmarshalCronJobSpec(dec, &s.Spec)
		default:
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalCronJobSpec(dec *jsontext.Decoder, s *cronJobSpec) error {
	ok, err := beginObject(dec, cronJobSpecType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		if string(name) == "jobTemplate" {
			err = unmarshalJobTemplate(dec, &s.JobTemplate)
		} else {
			err = skipValue(dec)
		}
	}
	return err
}

func unmarshalJobTemplate(dec *jsontext.Decoder, s *jobTemplate) error {
	ok, err := beginObject(dec, jobTemplateType)
	for ok && err == nil {
		var name []byte
		if name, ok, err = nextMember(dec); !ok {
			break
		}
		if string(name) == "spec" {
			err = unmarshalTemplateSpec(dec, &s.Spec)
		} else {
			err = skipValue(dec)
		}
	}
	return err
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
	configMapVolType   = reflect.TypeFor[corev1.ConfigMapVolumeSource]()
	secretVolType      = reflect.TypeFor[corev1.SecretVolumeSource]()
	capabilitiesFields = fields(capabilitiesType)
	seccompFields      = fields(seccompType)
	configMapVolFields = fields(configMapVolType)
	secretVolFields    = fields(secretVolType)
	tcpSocketFields    = fields(tcpSocketType)
)
