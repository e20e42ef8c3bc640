package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/test/cluster"
)

// captureNamespace holds the pods whose AdmissionReviews are captured; the bodies name it, so it
// exists whenever the upstream PSA webhook (which reads its labels) is measured.
const captureNamespace = "bench-capture"

// benchLabel selects, by namespace, which webhook configuration or policy binding applies.
const benchLabel = "bench-e2e"

// capture registers a webhook for pods in captureNamespace that records each body and allows it,
// creates the allowed and the denied pod with dryRun=All, and returns the two bodies exactly as the
// API server sent them.
func capture(ctx context.Context, c *cluster.Cluster, cs *certs) ([2][]byte, error) {
	var (
		mu     sync.Mutex
		bodies = map[string][]byte{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /capture", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var rev struct {
			Request struct {
				UID  string `json:"uid"`
				Name string `json:"name"`
			} `json:"request"`
		}
		if err := json.Unmarshal(b, &rev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies[rev.Request.Name] = b
		mu.Unlock()
		fmt.Fprintf(w, `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":%q,"allowed":true}}`, rev.Request.UID)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return [2][]byte{}, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cs.pair}}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	defer srv.Close()

	if err := c.EnsureNamespace(ctx, captureNamespace, map[string]string{benchLabel: "capture"}); err != nil {
		return [2][]byte{}, err
	}
	vwc := webhookFor("bench-e2e-capture", "https://"+l.Addr().String()+"/capture", cs.caPEM, "capture")
	if err := c.Client.Create(ctx, vwc); err != nil {
		return [2][]byte{}, fmt.Errorf("registering the capture webhook: %w", err)
	}
	defer func() { _ = c.Client.Delete(context.Background(), vwc) }()
	// The API server picks up a new webhook configuration within about a second.
	deadline := time.Now().Add(30 * time.Second)
	for _, pod := range []*corev1.Pod{allowedPod(captureNamespace, "allowed"), deniedPod(captureNamespace, "denied")} {
		for {
			err := c.Client.Create(ctx, pod.DeepCopy(), client.DryRunAll)
			mu.Lock()
			_, got := bodies[pod.Name]
			mu.Unlock()
			if got {
				break
			}
			if time.Now().After(deadline) {
				return [2][]byte{}, errors.Join(fmt.Errorf("the capture webhook saw no request for pod %s within 30s", pod.Name), err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return [2][]byte{bodies["allowed"], bodies["denied"]}, nil
}

// webhookFor is a validating webhook configuration for pod creates and updates in namespaces
// labelled benchLabel=target.
func webhookFor(name, url string, caPEM []byte, target string, conditions ...admissionregistrationv1.MatchCondition) *admissionregistrationv1.ValidatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    name + ".bench-e2e.sealgate.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{benchLabel: target}},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](10),
			MatchConditions:         conditions,
		}},
	}
}

// allowedPod passes the restricted Pod Security Standard: a typical web pod with two containers,
// probes, resources, env and a config map volume.
func allowedPod(ns, name string) *corev1.Pod {
	sc := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
			ReadOnlyRootFilesystem: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels:      map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "6d9f7c8b5d"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001),
				FSGroup: ptr.To[int64](10001), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.example.com/shop/web:1.42.0", SecurityContext: sc(), Resources: res,
					Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
					Env:           []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
					LivenessProbe: probe, ReadinessProbe: probe,
					VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web", ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}}},
				{Name: "proxy", Image: "registry.example.com/shop/proxy:2.3.1", SecurityContext: sc(), Resources: res,
					Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}}},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

// deniedPod is allowedPod with what restricted forbids: host network, a privileged container that
// runs as root with privilege escalation, no seccomp profile, and a hostPath volume.
func deniedPod(ns, name string) *corev1.Pod {
	p := allowedPod(ns, name)
	p.Spec.HostNetwork = true
	p.Spec.SecurityContext = &corev1.PodSecurityContext{}
	c := &p.Spec.Containers[0]
	c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0), AllowPrivilegeEscalation: ptr.To(true)}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}})
	return p
}
