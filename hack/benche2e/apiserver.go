package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/test/cluster"
)

// admission is one way of enforcing the policy through the API server, measured in its own
// namespace (bench-<name>), which its webhook configuration or policy binding selects by label.
type admission struct {
	name   string
	labels map[string]string // the namespace's labels beyond benchLabel
	// denies is whether the denied pod must be refused (everything but "none").
	denies bool
	cell   cell
	// check is what a dryRun create of the denied pod answered, for the table.
	check string
	// webhook is the process the API server calls for this admission (0: none), and apiCPU and
	// webhookCPU the CPU time the API server and it used over the rounds.
	webhook            int
	apiCPU, webhookCPU time.Duration
}

func (a *admission) namespace() string { return "bench-" + a.name }

// setupAdmissions registers what each admission needs and returns them in measuring order. vapYAML
// is `sealgate vap` output for the restricted policy; when it holds no policy, VAP is left out and
// note says why.
func setupAdmissions(ctx context.Context, c *cluster.Cluster, cs *certs, servers map[string]*server, vapYAML []byte) ([]*admission, string, error) {
	ads := []*admission{
		{name: "none"},
		{name: "builtin-psa", labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}, denies: true},
	}
	// sealgate's webhook carries the matchConditions cluster mode generates from the policy, as a
	// real install does; "sealgate-unmatched" is the same webhook in a namespace the policy excludes,
	// where the conditions keep the API server from calling it (issue 13: no loss for requests no
	// policy acts on).
	conditions, err := sealgateConditions()
	if err != nil {
		return nil, "", err
	}
	// "floor" is the floor server as a webhook: it answers allowed without reading the object, so its
	// loss is what calling any webhook costs the API server, the least a webhook can lose.
	for _, n := range []string{"floor", "sealgate", "sealgate-baseline", "sealgate-unmatched", "psa-webhook"} {
		server, conds := n, []admissionregistrationv1.MatchCondition(nil)
		switch n {
		case "sealgate", "sealgate-unmatched":
			server, conds = "sealgate", conditions
		case "sealgate-baseline":
			conds = conditions
		}
		s := servers[server]
		if s == nil {
			continue
		}
		if err := c.Client.Create(ctx, webhookFor("bench-e2e-"+n, s.url, cs.caPEM, n, conds...)); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, "", fmt.Errorf("registering the %s webhook: %w", n, err)
		}
		ads = append(ads, &admission{name: n, denies: n != "sealgate-unmatched" && n != "floor", webhook: s.pid()})
	}
	note := ""
	switch n, err := applyVAP(ctx, c, vapYAML); {
	case err != nil:
		return nil, "", err
	case n == 0:
		note = "`sealgate vap` compiles none of the restricted policy's rules yet (podSecurity is not compiled), so there is no VAP row."
	default:
		ads = append(ads, &admission{name: "sealgate-vap", denies: true})
	}
	for _, a := range ads {
		labels := map[string]string{benchLabel: a.name}
		for k, v := range a.labels {
			labels[k] = v
		}
		if err := c.EnsureNamespace(ctx, a.namespace(), labels); err != nil {
			return nil, "", err
		}
	}
	return ads, note, nil
}

// sealgateConditions are the matchConditions sealgate's cluster mode writes for the restricted policy.
func sealgateConditions() ([]admissionregistrationv1.MatchCondition, error) {
	var cap v1alpha1.ClusterAdmissionPolicy
	if err := yaml.UnmarshalStrict([]byte(restrictedPolicy), &cap); err != nil {
		return nil, fmt.Errorf("reading the restricted policy: %w", err)
	}
	p, err := policy.Compile(&cap)
	if err != nil {
		return nil, fmt.Errorf("compiling the restricted policy: %w", err)
	}
	return webhookconfig.MatchConditions([]*policy.Policy{p}, nil), nil
}

// applyVAP creates the ValidatingAdmissionPolicies and bindings of `sealgate vap` output, each
// binding narrowed to the bench-sealgate-vap namespace, and returns how many policies it created.
func applyVAP(ctx context.Context, c *cluster.Cluster, out []byte) (int, error) {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	policies := 0
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return policies, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading sealgate vap output: %w", err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return 0, fmt.Errorf("reading sealgate vap output: %w", err)
		}
		switch meta.Kind {
		case "ValidatingAdmissionPolicy":
			var p admissionregistrationv1.ValidatingAdmissionPolicy
			if err := yaml.UnmarshalStrict(doc, &p); err != nil {
				return 0, err
			}
			if err := c.Client.Create(ctx, &p); err != nil && !apierrors.IsAlreadyExists(err) {
				return 0, fmt.Errorf("creating %s: %w", p.Name, err)
			}
			policies++
		case "ValidatingAdmissionPolicyBinding":
			var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
			if err := yaml.UnmarshalStrict(doc, &b); err != nil {
				return 0, err
			}
			if b.Spec.MatchResources == nil {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{}
			}
			b.Spec.MatchResources.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{benchLabel: "sealgate-vap"}}
			if err := c.Client.Create(ctx, &b); err != nil && !apierrors.IsAlreadyExists(err) {
				return 0, fmt.Errorf("creating %s: %w", b.Name, err)
			}
		}
	}
}

// sealgateVAP runs `sealgate vap --policy` on the restricted policy.
func sealgateVAP(bin, dir string) ([]byte, error) {
	out, err := exec.Command(filepath.Join(bin, "sealgate"), "vap", "--policy", filepath.Join(dir, "restricted.yaml")).Output()
	if err != nil {
		return nil, fmt.Errorf("sealgate vap: %w", err)
	}
	return out, nil
}

// throughAPIServer sends dryRun=All creates of the allowed pod from clients workers for d per
// round, alternating the admissions round by round.
func throughAPIServer(ctx context.Context, c *cluster.Cluster, ads []*admission, servers map[string]*server, clients, rounds int, d time.Duration, profile string, logf func(string, ...any)) error {
	cfg := *c.Config
	cfg.QPS, cfg.Burst = 1e6, 1e6 // no client-side throttling
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, a := range ads {
		// The admissions take a moment to see new configurations and namespace labels.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := cs.CoreV1().Pods(a.namespace()).Create(ctx, deniedPod(a.namespace(), "denied"), dry)
			refused := apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
			if refused == a.denies || time.Now().After(deadline) {
				a.check = "admitted"
				if refused {
					a.check = "denied"
				}
				if err != nil && !refused {
					return fmt.Errorf("%s: creating the denied pod: %w", a.name, err)
				}
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if _, err := cs.CoreV1().Pods(a.namespace()).Create(ctx, allowedPod(a.namespace(), "allowed"), dry); err != nil {
			return fmt.Errorf("%s: the allowed pod was refused: %w", a.name, err)
		}
	}
	apiPID := 0
	if u, err := url.Parse(c.Config.Host); err == nil {
		apiPID = apiServerPID(u.Port())
	}
	cpu := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		t, _ := cpuTime(pid)
		return t
	}
	// One unmeasured round first, so that what the API server builds on first use (the webhook
	// clients and their connections, compiled CEL, a heap sized for the load) is not charged to
	// whichever admission comes first.
	warm := max(d/4, 2*time.Second)
	for _, a := range ads {
		if err := ctx.Err(); err != nil {
			return err
		}
		res := createRound(ctx, cs, a.namespace(), clients, warm)
		logf("api warm-up %-12s %6.0f creates/s  errors %d", a.name, float64(res.requests)/res.elapsed.Seconds(), res.errors)
	}
	for r := range rounds {
		// Each round starts one admission later, so that no admission always follows the same one.
		for i := range ads {
			a := ads[(i+r)%len(ads)]
			if err := ctx.Err(); err != nil { // interrupted: stop between rounds
				return err
			}
			api0, wh0 := cpu(apiPID), cpu(a.webhook)
			wait := func() error { return nil }
			if s := servers["sealgate"]; profile != "" && r == rounds-1 && a.name == "sealgate" && s != nil {
				wait = s.cpuProfile(filepath.Join(profile, "sealgate-apiserver.pprof"), d)
			}
			res := createRound(ctx, cs, a.namespace(), clients, d)
			if err := wait(); err != nil {
				return err
			}
			a.apiCPU += cpu(apiPID) - api0
			a.webhookCPU += cpu(a.webhook) - wh0
			a.cell.add(res)
			logf("api round %d/%d %-12s %6.0f creates/s  errors %d", r+1, rounds, a.name, float64(res.requests)/res.elapsed.Seconds(), res.errors)
		}
	}
	for _, a := range ads {
		slices.Sort(a.cell.lat)
	}
	return nil
}

func createRound(ctx context.Context, cs kubernetes.Interface, ns string, workers int, d time.Duration) round {
	results := make([]round, workers)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			r := &results[w]
			pod := allowedPod(ns, fmt.Sprintf("allowed-%d", w))
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				_, err := cs.CoreV1().Pods(ns).Create(ctx, pod.DeepCopy(), dry)
				r.lat = append(r.lat, time.Since(t0))
				r.requests++
				if err != nil {
					r.errors++
				}
			}
		})
	}
	wg.Wait()
	var total round
	total.elapsed = time.Since(start)
	for _, r := range results {
		total.requests += r.requests
		total.errors += r.errors
		total.lat = append(total.lat, r.lat...)
	}
	return total
}
