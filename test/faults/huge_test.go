//go:build faults

package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/test/cluster"
)

// Bounds the huge pods are held to. They are bounds on what is written and held, not timings.
const (
	// maxRSSGrowth is the peak RSS growth over the baseline allowed for one huge admission.
	maxRSSGrowth = 200 << 20
	// denialSlack is what the API server adds around sealgate's message: `admission webhook
	// "workloads.sealgate.dev" denied the request: `.
	denialSlack = 256
	// maxLogLine bounds one line of sealgate's log (engine.MaxLogBytes of violations, plus the
	// line's other fields).
	maxLogLine = 32 << 10
	// maxResponse bounds the whole AdmissionReview response: the denial message, the warnings and
	// the audit annotation, each capped, and the envelope.
	maxResponse = 64 << 10
	// apiServerBodyLimit is kube-apiserver's --max-request-bytes default: 3 MiB.
	apiServerBodyLimit = 3 << 20
)

// hugePod is one of the crafted objects of the issue.
type hugePod struct {
	name string
	pod  func(ns string) *corev1.Pod
}

// capsPod has one container whose capabilities.add holds n entries named by name(i).
func capsPod(ns, podName string, containers, n int, name func(c, i int) string) *corev1.Pod {
	p := pod(ns, podName, false)
	p.Spec.Containers = nil
	for c := 0; c < containers; c++ {
		add := make([]corev1.Capability, n)
		for i := range add {
			add[i] = corev1.Capability(name(c, i))
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", c), Image: "registry.example/app:1.0",
			SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add}}})
	}
	return p
}

func sameCap(int, int) string { return "X" }

// capsForBody returns n such that a one-container pod with n "X" capabilities encodes to about size
// bytes of JSON.
func capsForBody(size int) int {
	base, _ := json.Marshal(capsPod("faults-enforce", "just-under", 1, 0, sameCap))
	return (size - len(base)) / len(`"X",`)
}

var hugePods = []hugePod{
	{"600k-capabilities", func(ns string) *corev1.Pod { return capsPod(ns, "caps-600k", 1, 600_000, sameCap) }},
	{"2.4MB-distinct-capabilities", func(ns string) *corev1.Pod {
		return capsPod(ns, "caps-distinct", 20, 12_000, func(c, i int) string { return fmt.Sprintf("C%02d_%05d", c, i) })
	}},
	{"5000-privileged-containers", func(ns string) *corev1.Pod {
		p := pod(ns, "containers-5000", false)
		p.Spec.Containers = nil
		for i := 0; i < 5000; i++ {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "registry.example/app:1.0",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}})
		}
		return p
	}},
	{"just-under-3MiB", func(ns string) *corev1.Pod {
		return capsPod(ns, "just-under", 1, capsForBody(apiServerBodyLimit-8<<10), sameCap)
	}},
}

// (a) Huge objects through the API server, in Enforce and in Audit: each answered (denied in
// Enforce) within the webhook's timeout, the denial under the documented cap, sealgate's log lines
// bounded, and the peak RSS growth bounded.
func TestHugePods(t *testing.T) {
	f := newFleet(t)
	s := f.start("huge")
	cfg := rest.CopyConfig(env.Config)
	cfg.Timeout = 60 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, hp := range hugePods {
		for _, ns := range []string{nsEnforce, nsAudit} {
			t.Run(hp.name+"/"+strings.TrimPrefix(ns, "faults-"), func(t *testing.T) {
				p := hp.pod(ns)
				raw, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := cluster.ResetPeak(s.Pid()); err != nil {
					t.Fatal(err)
				}
				before, err := cluster.ReadMemory(s.Pid())
				if err != nil {
					t.Fatal(err)
				}
				logBefore := len(s.Log.String())
				start := time.Now()
				_, err = cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				took := time.Since(start)
				after, merr := cluster.ReadMemory(s.Pid())
				if merr != nil {
					t.Fatalf("sealgate is gone after the request: %v", merr)
				}
				verdict, text := "admitted", 0
				switch {
				case ns == nsEnforce && cluster.IsDenial(err):
					verdict, text = "denied", len(err.Error())
					if text > engine.MaxDenialBytes+denialSlack {
						t.Errorf("the denial the client got is %d bytes, over the %d-byte cap", text, engine.MaxDenialBytes)
					}
				case ns == nsAudit && err == nil:
				default:
					t.Fatalf("want sealgate's verdict (denied in Enforce, admitted in Audit), got: %.600v", err)
				}
				direct := directHuge(t, s, p)
				after, merr = cluster.ReadMemory(s.Pid())
				if merr != nil {
					t.Fatalf("sealgate is gone after the request: %v", merr)
				}
				growth := after.Peak - min(after.Peak, before.RSS)
				if growth > maxRSSGrowth {
					t.Errorf("peak RSS grew by %s over %s, more than %s", cluster.MiB(growth), cluster.MiB(before.RSS), cluster.MiB(maxRSSGrowth))
				}
				longest := longestLine(settledLog(s)[logBefore:])
				if longest > maxLogLine {
					t.Errorf("sealgate wrote a %d-byte log line, over %d", longest, maxLogLine)
				}
				figure(t, "pod %d bytes of JSON; through the API server %s in %d ms, denial text %d bytes; "+
					"straight to sealgate (not a dry run) %d ms, %d bytes of response, audit annotation %d bytes, longest log line %d bytes; "+
					"peak RSS %s over a baseline of %s",
					len(raw), verdict, took.Milliseconds(), text, direct.took.Milliseconds(), direct.response, direct.annotation, longest,
					cluster.MiB(growth), cluster.MiB(before.RSS))
			})
		}
	}
	t.Run("deep-nesting", func(t *testing.T) { deepNesting(t, s) })
	if !s.Alive() {
		t.Fatal("sealgate exited")
	}
}

// deepNesting posts straight to the replica an AdmissionReview whose object has an unknown member
// nested 100,000 levels deep: a 400 at once, and the process carries on.
func deepNesting(t *testing.T, s *cluster.Sealgate) {
	const depth = 100_000
	body, _, err := podReview(pod(nsEnforce, "deep", false))
	if err != nil {
		t.Fatal(err)
	}
	// Splice the member into the object: `"object":{` is followed by the pod's members.
	i := bytes.Index(body, []byte(`"object":{`))
	if i < 0 {
		t.Fatal("no object in the review")
	}
	i += len(`"object":{`)
	nested := `"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + ","
	body = append(body[:i:i], append([]byte(nested), body[i:]...)...)
	start := time.Now()
	code, out, err := s.Post(replicaClient(t), body)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusBadRequest {
		t.Errorf("HTTP %d for %d levels of nesting, want 400: %.300s", code, depth, out)
	}
	if _, err := replicaVerdict(replicaClient(t), s, pod(nsEnforce, "after-deep", false)); err != nil {
		t.Errorf("sealgate does not answer after the nested request: %v", err)
	}
	figure(t, "%d levels (%d bytes): HTTP %d in %d ms, %d bytes of answer; the next request answered", depth, len(body), code, took.Milliseconds(), len(out))
}

// directAnswer is what a replica answered to a review posted straight to it.
type directAnswer struct {
	took                 time.Duration
	response, annotation int
}

// directHuge posts p's review straight to the replica, not as a dry run, so that sealgate also
// writes its audit annotation and log line (a dry run leaves no trace), and checks their bounds.
func directHuge(t *testing.T, s *cluster.Sealgate, p *corev1.Pod) directAnswer {
	t.Helper()
	body, uid, err := podReview(p)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, err := s.Post(replicaClient(t), body)
	a := directAnswer{took: time.Since(start), response: len(out)}
	if err != nil {
		t.Fatal(err)
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &r); err != nil || r.Response == nil || r.Response.UID != uid {
		t.Fatalf("HTTP %d: no answer for the request: %.300s", code, out)
	}
	for _, v := range r.Response.AuditAnnotations {
		a.annotation += len(v)
	}
	if a.annotation > engine.MaxAuditAnnotationBytes+denialSlack {
		t.Errorf("audit annotations of %d bytes, over the %d-byte cap", a.annotation, engine.MaxAuditAnnotationBytes)
	}
	if len(out) > maxResponse {
		t.Errorf("a response of %d bytes, over %d", len(out), maxResponse)
	}
	return a
}

// settledLog returns the replica's log once it has stopped growing for a moment (at most 2 s): its
// output reaches the buffer through a pipe, after the answer may have.
func settledLog(s *cluster.Sealgate) string {
	last := s.Log.String()
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		now := s.Log.String()
		if len(now) == len(last) {
			break
		}
		last = now
	}
	return last
}

func longestLine(s string) int {
	longest := 0
	for line := range strings.SplitSeq(s, "\n") {
		longest = max(longest, len(line))
	}
	return longest
}
