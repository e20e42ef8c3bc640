package main

import (
	"crypto/sha256"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// item is one object to create. Owner is the index, in the same unit, of its controller, or -1:
// the controller's UID is known only once the API server has created it.
type item struct {
	Obj   client.Object
	Owner int
}

// unitObjects are the objects of one unit in the order they must be created, as the controllers
// would have made them (envtest runs no controller manager): a Deployment, its ReplicaSet and its
// pods; a StatefulSet or DaemonSet and its pods; a CronJob, one Job and its pod; or a bare pod.
func unitObjects(u unit) []item {
	tmpl := template(u)
	items := []item{}
	// pods adds the unit's pods, each a copy of the template under the controller at index owner.
	pods := func(owner int, apiVersion, kind string, name func(i int) string, node func(i int) string, labels map[string]string) {
		ref := controllerRef(apiVersion, kind, items[owner].Obj.GetName())
		for i := range u.Pods {
			pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
			pod.Name, pod.Namespace = name(i), u.Namespace
			for k, v := range labels {
				pod.Labels[k] = v
			}
			pod.OwnerReferences = []metav1.OwnerReference{ref}
			pod.Spec.NodeName = node(i)
			items = append(items, item{Obj: pod, Owner: owner})
		}
	}
	node := func(i int) string { return fmt.Sprintf("node-%02d", (u.App+i)%8) }
	meta := metav1.ObjectMeta{Name: u.Name, Namespace: u.Namespace, Labels: appLabels(u)}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": u.Name}}
	switch u.Kind {
	case "Deployment":
		hash := fmt.Sprintf("%x", sha256.Sum256([]byte(u.Name)))[:10]
		d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(u.Pods)), Selector: selector, Template: tmpl,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}}}}
		rsTmpl := *tmpl.DeepCopy()
		rsTmpl.Labels["pod-template-hash"] = hash
		rs := &appsv1.ReplicaSet{ObjectMeta: *meta.DeepCopy(), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(u.Pods)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": u.Name, "pod-template-hash": hash}}, Template: rsTmpl}}
		rs.Name = u.Name + "-" + hash
		rs.Labels["pod-template-hash"] = hash
		rs.OwnerReferences = []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", d.Name)}
		items = append(items, item{Obj: d, Owner: -1}, item{Obj: rs, Owner: 0})
		pods(1, "apps/v1", "ReplicaSet", func(i int) string { return fmt.Sprintf("%s-%05x", rs.Name, i*7919+u.App) }, node,
			map[string]string{"pod-template-hash": hash})
	case "StatefulSet":
		s := &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(u.Pods)), Selector: selector,
			ServiceName: u.Name, Template: tmpl}}
		items = append(items, item{Obj: s, Owner: -1})
		pods(0, "apps/v1", "StatefulSet", func(i int) string { return fmt.Sprintf("%s-%d", u.Name, i) }, node, nil)
	case "DaemonSet":
		ds := &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: selector, Template: tmpl}}
		items = append(items, item{Obj: ds, Owner: -1})
		pods(0, "apps/v1", "DaemonSet", func(i int) string { return fmt.Sprintf("%s-%05x", u.Name, i*104729+u.App) },
			func(i int) string { return fmt.Sprintf("node-%02d", i) }, nil)
	case "CronJob":
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		cj := &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "17 * * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{BackoffLimit: ptr.To(int32(2)), Template: tmpl}}}}
		job := &batchv1.Job{ObjectMeta: *meta.DeepCopy(), Spec: batchv1.JobSpec{BackoffLimit: ptr.To(int32(2)), Template: *tmpl.DeepCopy()}}
		job.Name = u.Name + "-29170517"
		job.OwnerReferences = []metav1.OwnerReference{controllerRef("batch/v1", "CronJob", cj.Name)}
		items = append(items, item{Obj: cj, Owner: -1}, item{Obj: job, Owner: 0})
		pods(1, "batch/v1", "Job", func(i int) string { return fmt.Sprintf("%s-%05x", job.Name, i*31+u.App) }, node,
			map[string]string{"job-name": job.Name})
	case "Pod":
		pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
		pod.Name, pod.Namespace = u.Name, u.Namespace
		pod.Spec.NodeName = node(0)
		items = append(items, item{Obj: pod, Owner: -1})
	default:
		panic("unknown kind " + u.Kind)
	}
	return items
}

func controllerRef(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func appLabels(u unit) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       u.Name,
		"app.kubernetes.io/instance":   u.Name + "-" + u.Namespace,
		"app.kubernetes.io/version":    version(u),
		"app.kubernetes.io/component":  map[string]string{"Deployment": "server", "StatefulSet": "database", "DaemonSet": "agent", "CronJob": "batch", "Pod": "debug"}[u.Kind],
		"app.kubernetes.io/part-of":    apps[u.App%len(apps)],
		"app.kubernetes.io/managed-by": "benchaudit",
		"team":                         teams[u.App%len(teams)],
	}
}

func version(u unit) string { return fmt.Sprintf("1.%d.%d", u.App%17, u.App%5) }

// digest is a made-up but well-formed digest, stable per image.
func digest(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }

// template is the unit's pod template: two containers (the application and a proxy sidecar) with
// env, ports, probes, resources and mounts, and the volumes, scheduling and security fields a real
// workload carries, about 3.5 KB of JSON in all. A compliant template passes every policy of
// examples/policies (restricted, digests, memory limits, the company registries); a violating one
// breaks exactly one thing.
func template(u unit) corev1.PodTemplateSpec {
	app := apps[u.App%len(apps)]
	image := fmt.Sprintf("registry.example.com/shop/%s:%s", app, version(u))
	image += "@" + digest(image)
	proxy := "ghcr.io/acme/proxy:2.14.1"
	proxy += "@" + digest(proxy)
	q := resource.MustParse
	hardened := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(10001)), AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}
	probe := func(path string, port int32, delay int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
			InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3}
	}
	main := corev1.Container{
		Name: app, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"--listen=:8080", "--metrics=:9090", "--config=/etc/" + app + "/config.yaml"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "APP_NAME", Value: app}, {Name: "APP_ENV", Value: map[bool]string{true: "production", false: "development"}[u.Prod]},
			{Name: "LOG_LEVEL", Value: "info"}, {Name: "LOG_FORMAT", Value: "json"},
			{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc:4317"},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "DB_HOST", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}, Key: "db.host"}}},
			{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: app + "-db"}, Key: "password"}}},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("400m"), corev1.ResourceMemory: q("256Mi")},
		},
		LivenessProbe: probe("/healthz", 8080, 10), ReadinessProbe: probe("/ready", 8080, 5),
		VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/" + app, ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"}, {Name: "db-credentials", MountPath: "/var/run/secrets/db", ReadOnly: true}},
		SecurityContext:          hardened(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	sidecar := corev1.Container{
		Name: "proxy", Image: proxy, ImagePullPolicy: corev1.PullIfNotPresent,
		Args:  []string{"proxy", "--upstream=127.0.0.1:8080", "--listen=:8443", "--tls-dir=/etc/proxy/tls"},
		Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("50m"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("200m"), corev1.ResourceMemory: q("128Mi")},
		},
		ReadinessProbe:  probe("/ready", 8443, 2),
		VolumeMounts:    []corev1.VolumeMount{{Name: "proxy-tls", MountPath: "/etc/proxy/tls", ReadOnly: true}},
		SecurityContext: hardened(),
	}
	spec := corev1.PodSpec{
		Containers:                    []corev1.Container{main, sidecar},
		ServiceAccountName:            app,
		AutomountServiceAccountToken:  ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(int64(30)),
		NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), FSGroup: ptr.To(int64(10001)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: teams[u.App%len(teams)], Effect: corev1.TaintEffectNoSchedule}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(q("64Mi"))}}},
			{Name: "db-credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: app + "-db"}}},
			{Name: "proxy-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: app + "-tls"}}},
		},
	}
	c := &spec.Containers[0]
	switch u.Violation {
	case privileged:
		// The API server refuses privileged with allowPrivilegeEscalation false.
		c.SecurityContext.Privileged, c.SecurityContext.AllowPrivilegeEscalation = ptr.To(true), nil
	case latestTag:
		c.Image = fmt.Sprintf("registry.example.com/shop/%s:latest", app)
	case noMemoryLimit:
		delete(c.Resources.Limits, corev1.ResourceMemory)
	case hostPathVol:
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "host-logs", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: ptr.To(corev1.HostPathDirectory)}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "host-logs", MountPath: "/host/var/log", ReadOnly: true})
	case addSysAdmin:
		c.SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
	}
	labels := appLabels(u)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics",
			"kubectl.kubernetes.io/default-container": app,
		}},
		Spec: spec,
	}
}

// linkOwner puts the UID of item i's controller, created before it, into its owner reference.
func linkOwner(items []item, i int) {
	if o := items[i].Owner; o >= 0 {
		refs := items[i].Obj.GetOwnerReferences()
		refs[0].UID = items[o].Obj.GetUID()
	}
}
