package admission_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

func restrictedPolicy(t *testing.T, name string, mode v1alpha1.Mode, exclude ...string) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
		Spec: v1alpha1.PolicySpec{Mode: mode, Match: v1alpha1.Match{ExcludeNamespaces: exclude},
			PodSecurity: &v1alpha1.PodSecurity{Level: "restricted", Version: "latest"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPooledBuffersKeepRequestsApart sends, over keep-alive connections and concurrently, reviews of
// different sizes and verdicts (allowed, denied, allowed with warnings), each with its own uid, and
// checks that every answer is the one for its own request: the body and response buffers serve keep
// being reused, and nothing of one request may show in another's answer.
func TestPooledBuffersKeepRequestsApart(t *testing.T) {
	h := &admission.Handler{
		Engine: &engine.Engine{Rules: rules.Default()},
		Policies: admission.StaticPolicies{
			restrictedPolicy(t, "enforce", v1alpha1.ModeEnforce, "warned"),
			restrictedPolicy(t, "warn", v1alpha1.ModeWarn, "payments"),
		},
		Metrics: metrics.Nop{},
		Log:     logr.Discard(),
	}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	const uid = "8f6a2c1e-4b7d-4e2a-9c3b-5d6e7f8a9b0c"
	type kind struct {
		body     []byte
		allowed  bool
		warnings bool
	}
	denied := readFixture(t, "review-pod-denied.json")
	kinds := []kind{
		{readFixture(t, "review-pod.json"), true, false},
		{denied, false, false},
		{readFixture(t, "review-pod-7k.json"), true, false},
		{bytes.ReplaceAll(denied, []byte(`"namespace":"payments"`), []byte(`"namespace":"warned"`)), true, true},
	}
	for _, k := range kinds {
		if !bytes.Contains(k.body, []byte(uid)) {
			t.Fatal("a fixture does not carry the expected uid")
		}
	}
	client := srv.Client()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				k := kinds[(g+i)%len(kinds)]
				// Same length as the fixture's uid, so that the bodies keep their sizes.
				want := fmt.Sprintf("%08d-%04d-4e2a-9c3b-5d6e7f8a9b0c", g, i)
				body := bytes.Replace(k.body, []byte(uid), []byte(want), 1)
				if err := postAndCheck(client, srv.URL, body, want, k.allowed, k.warnings); err != nil {
					errs <- fmt.Errorf("goroutine %d request %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func postAndCheck(c *http.Client, url string, body []byte, uid string, allowed, warnings bool) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &rv); err != nil || rv.Response == nil {
		return fmt.Errorf("status %d, undecodable answer %q: %v", resp.StatusCode, raw, err)
	}
	r := rv.Response
	if string(r.UID) != uid || r.Allowed != allowed || (len(r.Warnings) > 0) != warnings {
		return fmt.Errorf("answer uid %s allowed %v warnings %q, want uid %s allowed %v warnings %v",
			r.UID, r.Allowed, r.Warnings, uid, allowed, warnings)
	}
	if !allowed && !strings.Contains(r.Result.Message, "denied by sealgate") {
		return fmt.Errorf("denial message %q", r.Result.Message)
	}
	return nil
}
