package workload

import (
	"reflect"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

// unmarshalPodSpec reads a pod spec: the fields the rules read most by hand, the rest by fallback.
func unmarshalPodSpec(dec *jsontext.Decoder, s *corev1.PodSpec) error {
	return decodeObject(dec, podSpecType, s, podSpecMember)
}

func podSpecMember(dec *jsontext.Decoder, s *corev1.PodSpec, name []byte) (err error) {
	switch string(name) {
	case "volumes":
		err = list(dec, &s.Volumes, unmarshalVolume)
	case "initContainers":
		err = list(dec, &s.InitContainers, unmarshalContainer)
	case "containers":
		err = list(dec, &s.Containers, unmarshalContainer)
	case "restartPolicy":
		err = str(dec, &s.RestartPolicy)
	case "dnsPolicy":
		err = str(dec, &s.DNSPolicy)
	case "serviceAccountName":
		err = str(dec, &s.ServiceAccountName)
	case "serviceAccount":
		err = str(dec, &s.DeprecatedServiceAccount)
	case "nodeName":
		err = str(dec, &s.NodeName)
	case "hostNetwork":
		err = boolean(dec, &s.HostNetwork)
	case "hostPID":
		err = boolean(dec, &s.HostPID)
	case "hostIPC":
		err = boolean(dec, &s.HostIPC)
	case "securityContext":
		err = optional(dec, &s.SecurityContext, unmarshalPodSecurityContext)
	case "terminationGracePeriodSeconds":
		err = optional(dec, &s.TerminationGracePeriodSeconds, integer)
	case "activeDeadlineSeconds":
		err = optional(dec, &s.ActiveDeadlineSeconds, integer)
	case "priority":
		err = optional(dec, &s.Priority, integer)
	case "enableServiceLinks":
		err = optional(dec, &s.EnableServiceLinks, boolean)
	case "automountServiceAccountToken":
		err = optional(dec, &s.AutomountServiceAccountToken, boolean)
	case "preemptionPolicy":
		err = optional(dec, &s.PreemptionPolicy, str)
	case "hostname":
		err = str(dec, &s.Hostname)
	case "subdomain":
		err = str(dec, &s.Subdomain)
	case "schedulerName":
		err = str(dec, &s.SchedulerName)
	case "priorityClassName":
		err = str(dec, &s.PriorityClassName)
	case "affinity", "tolerations", "topologySpreadConstraints": // skipped: see skip.go
		err = skipValue(dec)
	default:
		err = skipOrFallback(dec, podSpecFields, reflect.ValueOf(s), name)
	}
	return err
}

// unmarshalContainer reads a container, the bulk of a pod spec.
func unmarshalContainer(dec *jsontext.Decoder, c *corev1.Container) error {
	return decodeObject(dec, containerType, c, containerMember)
}

func containerMember(dec *jsontext.Decoder, c *corev1.Container, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &c.Name)
	case "image":
		err = str(dec, &c.Image)
	case "command":
		err = list(dec, &c.Command, str)
	case "args":
		err = list(dec, &c.Args, str)
	case "workingDir":
		err = str(dec, &c.WorkingDir)
	case "ports":
		err = list(dec, &c.Ports, unmarshalContainerPort)
	case "env":
		err = list(dec, &c.Env, unmarshalEnvVar)
	case "envFrom", "volumeDevices": // skipped: see skip.go
		err = skipValue(dec)
	case "volumeMounts":
		err = list(dec, &c.VolumeMounts, unmarshalVolumeMount)
	case "resources":
		err = unmarshalResources(dec, &c.Resources)
	case "livenessProbe":
		err = optional(dec, &c.LivenessProbe, unmarshalProbe)
	case "readinessProbe":
		err = optional(dec, &c.ReadinessProbe, unmarshalProbe)
	case "startupProbe":
		err = optional(dec, &c.StartupProbe, unmarshalProbe)
	case "terminationMessagePath":
		err = str(dec, &c.TerminationMessagePath)
	case "terminationMessagePolicy":
		err = str(dec, &c.TerminationMessagePolicy)
	case "imagePullPolicy":
		err = str(dec, &c.ImagePullPolicy)
	case "securityContext":
		err = optional(dec, &c.SecurityContext, unmarshalSecurityContext)
	case "stdin":
		err = boolean(dec, &c.Stdin)
	case "stdinOnce":
		err = boolean(dec, &c.StdinOnce)
	case "tty":
		err = boolean(dec, &c.TTY)
	default: // lifecycle, resizePolicy, restartPolicy, restartPolicyRules and any newer field
		err = skipOrFallback(dec, containerFields, reflect.ValueOf(c), name)
	}
	return err
}

// unmarshalVolume reads a volume: its name and its source (inlined in the JSON object). Of the
// sources, only hostPath and image are read in full; of the others, only whether they are set (see
// sourcePresence).
func unmarshalVolume(dec *jsontext.Decoder, v *corev1.Volume) error {
	return decodeObject(dec, volumeType, v, volumeMember)
}

func volumeMember(dec *jsontext.Decoder, v *corev1.Volume, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &v.Name)
	case "hostPath":
		err = json.UnmarshalDecode(dec, &v.HostPath)
	case "image":
		err = json.UnmarshalDecode(dec, &v.Image)
	default:
		err = sourcePresence(dec, &v.VolumeSource, name)
	}
	return err
}

// sourcePresence reads a volume source no rule reads the inside of (skip.go): the rules ask only
// which source a volume has. An object sets the source to an empty value (or keeps the one a
// repeated name left), null sets it to nil, and any other kind is json v2's type error, so that the
// source is set exactly when the API machinery sets it; the object itself is stepped over.
func sourcePresence(dec *jsontext.Decoder, s *corev1.VolumeSource, name []byte) error {
	i, ok := volSourceFields[string(name)]
	if !ok {
		return skipValue(dec)
	}
	f := reflect.ValueOf(s).Elem().FieldByIndex(i)
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		f.SetZero()
		return err
	case '{':
		if _, err := dec.ReadValue(); err != nil {
			return err
		}
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		return nil
	}
	return json.UnmarshalDecode(dec, f.Addr().Interface())
}

func unmarshalContainerPort(dec *jsontext.Decoder, p *corev1.ContainerPort) error {
	return decodeObject(dec, portType, p, containerPortMember)
}

func containerPortMember(dec *jsontext.Decoder, p *corev1.ContainerPort, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &p.Name)
	case "hostPort":
		err = integer(dec, &p.HostPort)
	case "containerPort":
		err = integer(dec, &p.ContainerPort)
	case "protocol":
		err = str(dec, &p.Protocol)
	case "hostIP":
		err = str(dec, &p.HostIP)
	default:
		err = skipOrFallback(dec, portFields, reflect.ValueOf(p), name)
	}
	return err
}

// unmarshalVolumeMount reads a volume mount's name and readOnly, all a rule reads of it (the
// host-paths rule); the rest is skipped (skip.go).
func unmarshalVolumeMount(dec *jsontext.Decoder, m *corev1.VolumeMount) error {
	return decodeObject(dec, volumeMountType, m, volumeMountMember)
}

func volumeMountMember(dec *jsontext.Decoder, m *corev1.VolumeMount, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &m.Name)
	case "readOnly":
		err = boolean(dec, &m.ReadOnly)
	case "mountPath", "subPath", "subPathExpr", "mountPropagation", "recursiveReadOnly": // skipped: see skip.go
		err = skipValue(dec)
	default:
		err = skipOrFallback(dec, volumeMountFields, reflect.ValueOf(m), name)
	}
	return err
}

// unmarshalEnvVar reads an env entry: a container may have hundreds, and the plaintext-secrets rule
// reads their names and values.
func unmarshalEnvVar(dec *jsontext.Decoder, e *corev1.EnvVar) error {
	return decodeObject(dec, envVarType, e, envVarMember)
}

func envVarMember(dec *jsontext.Decoder, e *corev1.EnvVar, name []byte) (err error) {
	switch string(name) {
	case "name":
		err = str(dec, &e.Name)
	case "value":
		err = str(dec, &e.Value)
	case "valueFrom": // skipped: see skip.go
		err = skipValue(dec)
	default:
		err = skipOrFallback(dec, envVarFields, reflect.ValueOf(e), name)
	}
	return err
}

func unmarshalProbe(dec *jsontext.Decoder, p *corev1.Probe) error {
	return decodeObject(dec, probeType, p, probeMember)
}

func probeMember(dec *jsontext.Decoder, p *corev1.Probe, name []byte) (err error) {
	switch string(name) {
	case "httpGet":
		err = optional(dec, &p.HTTPGet, unmarshalHTTPGet)
	case "tcpSocket":
		err = optional(dec, &p.TCPSocket, unmarshalTCPSocket)
	case "initialDelaySeconds":
		err = integer(dec, &p.InitialDelaySeconds)
	case "timeoutSeconds":
		err = integer(dec, &p.TimeoutSeconds)
	case "periodSeconds":
		err = integer(dec, &p.PeriodSeconds)
	case "successThreshold":
		err = integer(dec, &p.SuccessThreshold)
	case "failureThreshold":
		err = integer(dec, &p.FailureThreshold)
	case "terminationGracePeriodSeconds":
		err = optional(dec, &p.TerminationGracePeriodSeconds, integer)
	default: // exec, grpc and any newer field
		err = skipOrFallback(dec, probeFields, reflect.ValueOf(p), name)
	}
	return err
}

func unmarshalHTTPGet(dec *jsontext.Decoder, h *corev1.HTTPGetAction) error {
	return decodeObject(dec, httpGetType, h, hTTPGetMember)
}

func hTTPGetMember(dec *jsontext.Decoder, h *corev1.HTTPGetAction, name []byte) (err error) {
	switch string(name) {
	case "path":
		err = str(dec, &h.Path)
	case "host":
		err = str(dec, &h.Host)
	case "scheme":
		err = str(dec, &h.Scheme)
	case "port":
		err = intOrString(dec, &h.Port)
	default: // httpHeaders and the rest
		err = skipOrFallback(dec, httpGetFields, reflect.ValueOf(h), name)
	}
	return err
}

func unmarshalTCPSocket(dec *jsontext.Decoder, t *corev1.TCPSocketAction) error {
	return decodeObject(dec, tcpSocketType, t, tCPSocketMember)
}

func tCPSocketMember(dec *jsontext.Decoder, t *corev1.TCPSocketAction, name []byte) error {
	switch string(name) {
	case "host":
		return str(dec, &t.Host)
	case "port":
		return intOrString(dec, &t.Port)
	}
	return skipOrFallback(dec, tcpSocketFields, reflect.ValueOf(t), name)
}

func unmarshalSecurityContext(dec *jsontext.Decoder, c *corev1.SecurityContext) error {
	return decodeObject(dec, securityType, c, securityContextMember)
}

func securityContextMember(dec *jsontext.Decoder, c *corev1.SecurityContext, name []byte) (err error) {
	switch string(name) {
	case "privileged":
		err = optional(dec, &c.Privileged, boolean)
	case "runAsUser":
		err = optional(dec, &c.RunAsUser, integer)
	case "runAsGroup":
		err = optional(dec, &c.RunAsGroup, integer)
	case "runAsNonRoot":
		err = optional(dec, &c.RunAsNonRoot, boolean)
	case "readOnlyRootFilesystem":
		err = optional(dec, &c.ReadOnlyRootFilesystem, boolean)
	case "allowPrivilegeEscalation":
		err = optional(dec, &c.AllowPrivilegeEscalation, boolean)
	case "procMount":
		err = optional(dec, &c.ProcMount, str)
	case "capabilities":
		err = optional(dec, &c.Capabilities, unmarshalCapabilities)
	case "seccompProfile":
		err = optional(dec, &c.SeccompProfile, unmarshalSeccompProfile)
	default: // capabilities, seccompProfile, seLinuxOptions, windowsOptions, appArmorProfile, ...
		err = skipOrFallback(dec, securityFields, reflect.ValueOf(c), name)
	}
	return err
}

// unmarshalPodSecurityContext reads the pod's security context, which every pod has (the API server
// writes {} when none was given).
func unmarshalPodSecurityContext(dec *jsontext.Decoder, c *corev1.PodSecurityContext) error {
	return decodeObject(dec, podSecurityType, c, podSecurityContextMember)
}

func podSecurityContextMember(dec *jsontext.Decoder, c *corev1.PodSecurityContext, name []byte) (err error) {
	switch string(name) {
	case "runAsUser":
		err = optional(dec, &c.RunAsUser, integer)
	case "runAsGroup":
		err = optional(dec, &c.RunAsGroup, integer)
	case "runAsNonRoot":
		err = optional(dec, &c.RunAsNonRoot, boolean)
	case "fsGroup":
		err = optional(dec, &c.FSGroup, integer)
	case "supplementalGroups":
		err = list(dec, &c.SupplementalGroups, integer)
	case "seccompProfile":
		err = optional(dec, &c.SeccompProfile, unmarshalSeccompProfile)
	default: // seLinuxOptions, windowsOptions, sysctls, appArmorProfile, the policies, and any newer field
		err = skipOrFallback(dec, podSecurityFields, reflect.ValueOf(c), name)
	}
	return err
}

func unmarshalResources(dec *jsontext.Decoder, r *corev1.ResourceRequirements) error {
	return decodeObject(dec, resourcesType, r, resourcesMember)
}

func resourcesMember(dec *jsontext.Decoder, r *corev1.ResourceRequirements, name []byte) (err error) {
	switch string(name) {
	case "limits":
		err = resourceMap(dec, &r.Limits)
	case "requests":
		err = resourceMap(dec, &r.Requests)
	default:
		err = skipOrFallback(dec, resourcesFields, reflect.ValueOf(r), name)
	}
	return err
}

func unmarshalCapabilities(dec *jsontext.Decoder, c *corev1.Capabilities) error {
	return decodeObject(dec, capabilitiesType, c, capabilitiesMember)
}

func capabilitiesMember(dec *jsontext.Decoder, c *corev1.Capabilities, name []byte) (err error) {
	switch string(name) {
	case "add":
		err = list(dec, &c.Add, str)
	case "drop":
		err = list(dec, &c.Drop, str)
	default:
		err = skipOrFallback(dec, capabilitiesFields, reflect.ValueOf(c), name)
	}
	return err
}

func unmarshalSeccompProfile(dec *jsontext.Decoder, p *corev1.SeccompProfile) error {
	return decodeObject(dec, seccompType, p, seccompProfileMember)
}

func seccompProfileMember(dec *jsontext.Decoder, p *corev1.SeccompProfile, name []byte) (err error) {
	switch string(name) {
	case "type":
		err = str(dec, &p.Type)
	case "localhostProfile":
		err = optional(dec, &p.LocalhostProfile, str)
	default:
		err = skipOrFallback(dec, seccompFields, reflect.ValueOf(p), name)
	}
	return err
}
