package rules

import (
	"sync"
	"testing"

	"gopkg.in/inf.v0"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestMaxLimitRequestRatio(t *testing.T) {
	pol := resourcePolicy(t, v1alpha1.ResourceRules{MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{
		"cpu": resource.MustParse("4"), "memory": resource.MustParse("1.5"),
	}})
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app", requests("cpu", "1"), limits("cpu", "8"))}}

	runRuleCases(t, maxLimitRequestRatio, []ruleCase{{
		name:   "no resources section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "no ratios",
		policy: resourcePolicy(t, v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{"cpu"}}),
		target: podTarget(failing),
	}, {
		name:   "at or under the ratio, or not both set, or zero request",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", requests("cpu", "250m", "memory", "1Gi"), limits("cpu", "1", "memory", "1536Mi")),
			ctr("b", limits("cpu", "64")),
			ctr("c", requests("cpu", "1m")),
			ctr("d", requests("cpu", "0"), limits("cpu", "1")),
			ctr("e", requests("cpu", "1000000000000000000"), limits("cpu", "4000000000000000000")),
		}}),
	}, {
		name:   "over the ratio, however slightly",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", requests("cpu", "10", "memory", "1Gi"), limits("cpu", "40001m", "memory", "1537Mi")),
			// 4.000000000000000001: a float64 cannot tell this from 4.
			ctr("b", requests("cpu", "1000000000000000000"), limits("cpu", "4000000000000000001")),
		}}),
		want: []Finding{
			{Path: "spec.containers[0].resources.limits.cpu", Container: "a",
				Message: `container "a" has a cpu limit of 40001m, more than 4 times its request of 10; lower resources.limits.cpu to at most 40 or raise resources.requests.cpu`},
			{Path: "spec.containers[0].resources.limits.memory", Container: "a",
				Message: `container "a" has a memory limit of 1537Mi, more than 1.5 times its request of 1Gi; lower resources.limits.memory to at most 1536Mi or raise resources.requests.memory`},
			{Path: "spec.containers[1].resources.limits.cpu", Container: "b",
				Message: `container "b" has a cpu limit of 4000000000000000001, more than 4 times its request of 1E; lower resources.limits.cpu to at most 4E or raise resources.requests.cpu`},
		},
	}, {
		name:   "template: init container checked, ephemeral container exempt",
		policy: pol,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", requests("cpu", "100m"), limits("cpu", "1"))},
			Containers:          []corev1.Container{ctr("app", requests("cpu", "1"), limits("cpu", "4"))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg", requests("cpu", "1"), limits("cpu", "8")))},
		}),
		want: []Finding{{Path: "spec.template.spec.initContainers[0].resources.limits.cpu", Container: "init",
			Message: `container "init" has a cpu limit of 1, more than 4 times its request of 100m; lower resources.limits.cpu to at most 400m or raise resources.requests.cpu`}},
	}})
}

// TestResourceRulesShareAPolicy checks, under -race, that the quantity rules only read the compiled
// policy, which the engine shares between concurrent requests.
func TestResourceRulesShareAPolicy(t *testing.T) {
	big := resource.MustParse("1.000000000000000000001") // held as an inf.Dec
	pol := resourcePolicy(t, v1alpha1.ResourceRules{
		MaxLimits:            map[corev1.ResourceName]resource.Quantity{"cpu": resource.MustParse("2"), "memory": big},
		MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{"cpu": resource.MustParse("1.5"), "memory": big},
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				tg := podTarget(corev1.PodSpec{Containers: []corev1.Container{
					ctr("a", requests("cpu", "1", "memory", "1"), limits("cpu", "3", "memory", "2")),
				}})
				if len(collect(maxLimits, pol, tg)) != 2 || len(collect(maxLimitRequestRatio, pol, tg)) != 2 {
					t.Error("want two findings from each rule")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestExceedsRatioExact compares the integer fast path with exact decimal arithmetic on values from
// nano to beyond 64 bits, including every equality the grid makes.
func TestExceedsRatioExact(t *testing.T) {
	values := []string{"1n", "3n", "0.5", "999m", "1", "4", "4001m", "1.5", "2500m", "10", "40001m", "1Ki",
		"1536Mi", "1Gi", "8Ei", "1E", "4E", "9223372036854775807", "1.000000000000000000001", "123456789012345678901234", "0"}
	qs := make([]resource.Quantity, len(values))
	for i, v := range values {
		qs[i] = resource.MustParse(v)
	}
	for _, l := range qs {
		for _, q := range qs {
			for _, r := range qs {
				if q.Sign() <= 0 || r.Sign() <= 0 {
					continue
				}
				lc, qc, rc := l.DeepCopy(), q.DeepCopy(), r.DeepCopy()
				want := lc.AsDec().Cmp(new(inf.Dec).Mul(rc.AsDec(), qc.AsDec())) > 0
				if got := exceedsRatio(l, q, r); got != want {
					t.Errorf("exceedsRatio(limit %s, request %s, ratio %s) = %v, want %v", l.String(), q.String(), r.String(), got, want)
				}
			}
		}
	}
}
