package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// LoadOptions describe a load of admissions through the API server.
type LoadOptions struct {
	// Workers each create pods one after the other.
	Workers int
	// Pod returns the pod worker w creates on its i-th request. Every create is dryRun=All, so the
	// names may repeat.
	Pod func(w, i int) *corev1.Pod
	// Pause is how long a worker waits between two requests (0: none).
	Pause time.Duration
	// Timeout bounds one request on the client side (default 30 s, above the webhook's timeout).
	Timeout time.Duration
}

// LoadStats count the answers of a load.
type LoadStats struct {
	// Admitted and Denied are the answers a client expects: the pod created, or sealgate's denial.
	Admitted, Denied int64
	// Failed is everything else: the API server could not call the webhook (connection refused or
	// reset, EOF, TLS, timeout), or any other error.
	Failed int64
	// Failures holds the first few failures' text, with when they happened since the start.
	Failures []string
}

// Total is the number of answered and failed requests.
func (s LoadStats) Total() int64 { return s.Admitted + s.Denied + s.Failed }

func (s LoadStats) String() string {
	out := fmt.Sprintf("%d requests: %d admitted, %d denied, %d failed", s.Total(), s.Admitted, s.Denied, s.Failed)
	if len(s.Failures) > 0 {
		out += "; first failures:\n  " + strings.Join(s.Failures, "\n  ")
	}
	return out
}

// Load creates pods with dryRun=All from several workers through the API server, so that every
// request goes API server -> webhook, and counts the answers. Stop it with Stop.
type Load struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	start    time.Time

	admitted, denied, failed atomic.Int64
	mu                       sync.Mutex
	failures                 []string
}

// maxFailureTexts is how many failure texts a Load keeps.
const maxFailureTexts = 8

// StartLoad starts the workers. The client is not rate-limited: the load is what the workers make.
func StartLoad(cfg *rest.Config, o LoadOptions) (*Load, error) {
	if o.Workers < 1 || o.Pod == nil {
		return nil, errors.New("a load needs workers and a pod")
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1e6, 1e6
	cfg.Timeout = o.Timeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	l := &Load{start: time.Now()}
	for w := 0; w < o.Workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// A request is never cut by Stop: each one counts, and the client's Timeout bounds it.
			for i := 0; !l.stopping.Load(); i++ {
				pod := o.Pod(w, i)
				_, err := cs.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				l.record(err)
				if o.Pause > 0 {
					time.Sleep(o.Pause)
				}
			}
		}()
	}
	return l, nil
}

func (l *Load) record(err error) {
	switch {
	case err == nil:
		l.admitted.Add(1)
	case IsDenial(err):
		l.denied.Add(1)
	default:
		l.failed.Add(1)
		l.mu.Lock()
		if len(l.failures) < maxFailureTexts {
			l.failures = append(l.failures, fmt.Sprintf("+%s: %v", time.Since(l.start).Round(time.Millisecond), err))
		}
		l.mu.Unlock()
	}
}

// IsDenial reports whether err is sealgate's workload webhook denying a request (a 403 from the API
// server carrying the webhook's answer), as opposed to a failure to get one.
func IsDenial(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `admission webhook "workloads.sealgate.dev" denied the request`)
}

// Stats returns the counts so far.
func (l *Load) Stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LoadStats{Admitted: l.admitted.Load(), Denied: l.denied.Load(), Failed: l.failed.Load(),
		Failures: append([]string(nil), l.failures...)}
}

// Stop lets each worker finish its request, waits for them and returns the counts. It may be called
// more than once.
func (l *Load) Stop() LoadStats {
	l.stopping.Store(true)
	l.wg.Wait()
	return l.Stats()
}

// WaitRequests waits until at least n more requests than now have been answered or failed, or the
// timeout passes; it reports whether they were.
func (l *Load) WaitRequests(n int64, timeout time.Duration) bool {
	target := l.Stats().Total() + n
	deadline := time.Now().Add(timeout)
	for l.Stats().Total() < target {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
