package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/hack/internal/benchdoc"
	"github.com/sealgate/sealgate/test/cluster"
)

// creation is how the objects were made.
type creation struct {
	Objects int
	Took    time.Duration
	Workers int
}

func (c creation) rate() float64 { return float64(c.Objects) / c.Took.Seconds() }

// create makes the plan's namespaces, then its units, each by one of o.Workers workers in order
// (an owner before what it owns, whose owner reference needs the owner's UID). The client is not
// rate-limited and speaks protobuf, as controllers do.
func (b *bench) create(ctx context.Context) error {
	cfg := rest.CopyConfig(b.c.Config)
	cfg.QPS, cfg.Burst = 1e6, 1e6 // the workers are the limit
	cfg.ContentType = runtime.ContentTypeProtobuf
	cl, err := client.New(cfg, client.Options{Scheme: b.c.Client.Scheme()})
	if err != nil {
		return err
	}
	for _, ns := range b.plan.Namespaces {
		if err := b.c.EnsureNamespace(ctx, ns.Name, ns.Labels); err != nil {
			return err
		}
	}
	total := b.plan.Objects
	b.say("creating %d objects with %d workers; the API server admits them without sealgate, as before an adoption", total, b.o.Workers)
	var done atomic.Int64
	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				n := done.Load()
				rate := float64(n) / time.Since(start).Seconds()
				eta := time.Duration(float64(int64(total)-n)/rate) * time.Second
				b.say("creating objects: %d of %d (%.0f/s, about %s to go)", n, total, rate, eta.Round(time.Second))
			}
		}
	}()
	units := make(chan unit)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(units)
		for _, u := range b.plan.Units {
			select {
			case units <- u:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range b.o.Workers {
		g.Go(func() error {
			for u := range units {
				items := unitObjects(u)
				for i := range items {
					linkOwner(items, i)
					if err := cl.Create(gctx, items[i].Obj); err != nil {
						gvk, _ := cl.GroupVersionKindFor(items[i].Obj)
						return fmt.Errorf("creating %s %s/%s: %w", gvk.Kind, u.Namespace, items[i].Obj.GetName(), err)
					}
					done.Add(1)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	close(stopProgress)
	<-progressDone
	if err != nil {
		return err
	}
	b.created = creation{Objects: total, Took: time.Since(start), Workers: b.o.Workers}
	b.say("created %d objects in %s (%.0f objects/s)", total, b.created.Took.Round(time.Second), b.created.rate())
	return nil
}

// podSize is the size in JSON of a pod of the first Deployment: as the benchmark writes it, and as
// the API server returns it (defaults, managedFields and all), which is what the audit lists.
type podSize struct{ written, served int }

func samplePodSize(ctx context.Context, c *cluster.Cluster, units []unit) (podSize, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return podSize{}, err
	}
	for _, u := range units {
		if u.Kind != "Deployment" {
			continue
		}
		items := unitObjects(u)
		pod := items[len(items)-1].Obj.(*corev1.Pod)
		written, err := json.Marshal(pod)
		if err != nil {
			return podSize{}, err
		}
		raw, err := cs.CoreV1().RESTClient().Get().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).
			SetHeader("Accept", "application/json").Do(ctx).Raw()
		if err != nil {
			return podSize{}, fmt.Errorf("reading pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		return podSize{written: len(written), served: len(raw)}, nil
	}
	return podSize{}, nil
}

func serverVersion(c *cluster.Cluster) string {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return "kube-apiserver"
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "kube-apiserver"
	}
	return "kube-apiserver " + v.GitVersion
}

// describeKinds lists the top-level objects per kind: "1,940 Deployment, 40 StatefulSet, …".
func describeKinds(p plan) string {
	var parts []string
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Pod"} {
		if n := p.Kinds[kind]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", benchdoc.Thousands(n), kind))
		}
	}
	return strings.Join(parts, ", ")
}

func describeViolations(p plan) string {
	var parts []string
	for v := violation(1); v < numViolations; v++ {
		parts = append(parts, fmt.Sprintf("%d %s", p.ViolatingByViolation[v], v))
	}
	return strings.Join(parts, ", ")
}
