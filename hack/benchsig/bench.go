package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/verify"
	"github.com/sealgate/sealgate/test/registry"
)

type bench struct {
	o       options
	reg     *registry.Server
	dir     string
	cosign  string
	pubFile string
	policy  []*policy.Policy
	tracer  *tracer
}

// cold is the cold verification of one image in one format.
type cold struct {
	format           registry.Format
	sealgate, cosign []time.Duration
	// requests per verification, summed over the samples
	sealgateReqs, cosignReqs int64
	// connections (TLS handshakes) per verification, summed over the samples
	sealgateConns, cosignConns int64
	// the requests of the first sample of each
	sealgateTrace, cosignTrace []string
}

// batchResult is the batch of distinct images.
type batchResult struct {
	format registry.Format
	images int
	passes []*pass
}

// pass is one way of verifying the whole batch.
type pass struct {
	name     string
	wall     time.Duration
	each     []time.Duration // per admission or per cosign process; empty when there is one process
	requests int64
	conns    int64 // connections the registry accepted: each is a TLS handshake
}

// writePolicy is an Enforce policy that allows only the registry and requires a signature by key on
// every image from it.
func writePolicy(dir, host, pub string) ([]*policy.Policy, error) {
	p := map[string]any{
		"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy",
		"metadata": map[string]any{"name": "signed"},
		"spec": map[string]any{
			"mode":   "Enforce",
			"images": map[string]any{"allowedRegistries": []string{host + "/**"}},
			"signatures": []any{map[string]any{"images": []string{host + "/**"}, "threshold": 1,
				"attestors": []any{map[string]any{"name": "release", "publicKey": pub}}}},
		},
	}
	b, err := json.Marshal(p) // JSON is YAML
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return policy.LoadPaths([]string{path}, nil)
}

// handler is sealgate's admission handler with a new verifier: empty caches, no connections.
func (b *bench) handler() (*admission.Handler, error) {
	h := &admission.Handler{
		Engine:   &engine.Engine{Rules: rules.Default(), Signatures: verify.New(verify.Options{RootCAs: b.reg.RootCAs()})},
		Policies: admission.StaticPolicies(b.policy),
	}
	return h, h.Defaults()
}

// review is the AdmissionReview of a Pod CREATE with one container running image.
func review(uid, image string) ([]byte, error) {
	pod, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "app-" + uid, "namespace": "default"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}},
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       ktypes.UID("uid-" + uid),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      "app-" + uid,
			Namespace: "default",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: pod},
		},
	})
}

// admit sends one AdmissionReview through h and fails unless it is allowed.
func admit(ctx context.Context, h *admission.Handler, body []byte, image string) (time.Duration, error) {
	start := time.Now()
	resp, _, err := h.ReviewBody(ctx, body)
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if !resp.Allowed {
		msg := ""
		if resp.Result != nil {
			msg = resp.Result.Message
		}
		return d, fmt.Errorf("%w %s: %s", errDenied, image, msg)
	}
	return d, nil
}

// pushSigned pushes n random images to repositories prefix-000... and signs them with one cosign run.
func (b *bench) pushSigned(ctx context.Context, k registry.Key, f registry.Format, prefix string, n int) ([]string, error) {
	refs := make([]string, n)
	for i := range refs {
		repo := fmt.Sprintf("%s-%03d", prefix, i)
		d, err := b.reg.Push(repo, "v1")
		if err != nil {
			return nil, err
		}
		refs[i] = b.reg.Ref(repo, d)
	}
	return refs, b.reg.Sign(ctx, b.cosign, b.dir, k, f, refs...)
}

// unsignedDenied checks that the policy is in force: an unsigned image is denied.
func (b *bench) unsignedDenied(ctx context.Context) error {
	d, err := b.reg.Push("unsigned", "v1")
	if err != nil {
		return err
	}
	h, err := b.handler()
	if err != nil {
		return err
	}
	body, err := review("unsigned", b.reg.Ref("unsigned", d))
	if err != nil {
		return err
	}
	resp, _, err := h.ReviewBody(ctx, body)
	if err != nil {
		return err
	}
	if resp.Allowed {
		return fmt.Errorf("sealgate admitted an unsigned image: the policy does not check signatures")
	}
	return nil
}

// cold measures one image in format f: sealgate with a new verifier per sample, then cosign.
func (b *bench) cold(ctx context.Context, k registry.Key, f registry.Format) (*cold, error) {
	refs, err := b.pushSigned(ctx, k, f, fmt.Sprintf("cold-%d", f), 1)
	if err != nil {
		return nil, err
	}
	ref := refs[0]
	body, err := review("cold", ref)
	if err != nil {
		return nil, err
	}
	c := &cold{format: f}
	for i := range b.o.samples {
		if i == 0 {
			if b.o.trace {
				logf("trace: sealgate, cold, %s", f)
			}
			b.tracer.start()
		}
		h, err := b.handler()
		if err != nil {
			return nil, err
		}
		before, beforeConns := b.reg.Requests(), b.reg.Connections()
		d, err := admit(ctx, h, body, ref)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			c.sealgateTrace = b.tracer.stop()
		}
		c.sealgate = append(c.sealgate, d)
		c.sealgateReqs += b.reg.Requests() - before
		c.sealgateConns += b.reg.Connections() - beforeConns
	}
	for i := range b.o.cosignSamples {
		if i == 0 {
			if b.o.trace {
				logf("trace: cosign verify, cold, %s", f)
			}
			b.tracer.start()
		}
		before, beforeConns := b.reg.Requests(), b.reg.Connections()
		d, err := b.cosignVerify(ctx, ref)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			c.cosignTrace = b.tracer.stop()
		}
		c.cosign = append(c.cosign, d)
		c.cosignReqs += b.reg.Requests() - before
		c.cosignConns += b.reg.Connections() - beforeConns
	}
	logf("cold %s: sealgate p50 %s, cosign p50 %s", f, ms(percentile(c.sealgate, 50)), ms(percentile(c.cosign, 50)))
	return c, nil
}

// cosignVerify runs `cosign verify --key` on refs in one process, offline like the signing.
func (b *bench) cosignVerify(ctx context.Context, refs ...string) (time.Duration, error) {
	args := append([]string{"verify", "--key", b.pubFile, "--insecure-ignore-tlog=true", "--output", "json"}, refs...)
	start := time.Now()
	_, err := b.reg.Run(ctx, b.cosign, b.dir, args...)
	return time.Since(start), err
}

// batch admits refs through sealgate cold and warm, then verifies them with cosign three ways.
func (b *bench) batch(ctx context.Context, refs []string) (*batchResult, error) {
	bodies := make([][]byte, len(refs))
	for i, ref := range refs {
		var err error
		if bodies[i], err = review(fmt.Sprint(i), ref); err != nil {
			return nil, err
		}
	}
	res := &batchResult{images: len(refs)}
	h, err := b.handler()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"sealgate, new verifier (cold caches)", "sealgate, same verifier again (warm caches)"} {
		r, err := b.parallel(name, len(refs), b.o.conc, func(i int) (time.Duration, error) {
			return admit(ctx, h, bodies[i], refs[i])
		})
		if err != nil {
			return nil, err
		}
		res.passes = append(res.passes, r)
	}
	logf("batch: sealgate cold %s, warm %s; now cosign", res.passes[0].wall.Round(time.Millisecond), res.passes[1].wall.Round(time.Millisecond))
	one := func(i int) (time.Duration, error) { return b.cosignVerify(ctx, refs[i]) }
	for _, c := range []int{1, b.o.conc} {
		r, err := b.parallel(fmt.Sprintf("`cosign verify`, one process per image, %d at a time", c), len(refs), c, one)
		if err != nil {
			return nil, err
		}
		res.passes = append(res.passes, r)
	}
	before, beforeConns := b.reg.Requests(), b.reg.Connections()
	start := time.Now()
	if _, err := b.cosignVerify(ctx, refs...); err != nil {
		return nil, err
	}
	res.passes = append(res.passes, &pass{name: "`cosign verify`, one process given every image", wall: time.Since(start),
		requests: b.reg.Requests() - before, conns: b.reg.Connections() - beforeConns})
	return res, nil
}

// parallel calls do for 0..n-1, c at a time, and times each call and the whole.
func (b *bench) parallel(name string, n, c int, do func(int) (time.Duration, error)) (*pass, error) {
	r := &pass{name: name, each: make([]time.Duration, n)}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	before, beforeConns := b.reg.Requests(), b.reg.Connections()
	start := time.Now()
	for range c {
		wg.Go(func() {
			for i := range next {
				d, err := do(i)
				r.each[i] = d
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.requests = b.reg.Requests() - before
	r.conns = b.reg.Connections() - beforeConns
	return r, firstErr
}
