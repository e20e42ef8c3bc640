package cluster

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leadership says whether this replica is the one that writes to the cluster (policy status).
// Every replica serves admissions whether or not it leads.
type Leadership interface {
	// Leading reports whether this replica leads now.
	Leading() bool
	// Gained receives a value each time this replica becomes the leader, so that it can catch up on
	// writes no replica made while nobody led.
	Gained() <-chan struct{}
}

// AlwaysLeader is the Leadership of a replica that writes without an election (--leader-elect=false,
// for a single replica): it leads from the start.
func AlwaysLeader() Leadership {
	g := make(chan struct{}, 1)
	g <- struct{}{}
	return alwaysLeader{gained: g}
}

type alwaysLeader struct{ gained chan struct{} }

func (alwaysLeader) Leading() bool             { return true }
func (a alwaysLeader) Gained() <-chan struct{} { return a.gained }

// Lease timings, those of controller-runtime and kube-controller-manager: a leader that cannot renew
// for RenewDeadline stops writing; another replica takes over once LeaseDuration has passed.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// Elector campaigns for a Lease for as long as the process runs. Unlike controller-runtime's own
// election, losing the Lease (an API server or etcd outage longer than the renew deadline) does not
// stop the process: a webhook replica that exited for that would turn a control-plane blip into
// failed admissions. It stops writing, and campaigns again.
type Elector struct {
	lock    resourcelock.Interface
	log     logr.Logger
	leading atomic.Bool
	gained  chan struct{}
}

// NewElector returns an elector for the Lease namespace/name. Start it with the manager (it needs no
// election itself).
func NewElector(cfg *rest.Config, namespace, name string, log logr.Logger) (*Elector, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	client, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, err
	}
	// The hostname says which pod leads; the random part keeps a restarted process from taking over
	// the Lease its predecessor still holds before it expires.
	id := host + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, name,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, fmt.Errorf("leader election lock: %w", err)
	}
	return &Elector{lock: lock, log: log.WithValues("lease", namespace+"/"+name, "identity", id), gained: make(chan struct{}, 1)}, nil
}

// Leading implements Leadership.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Gained implements Leadership.
func (e *Elector) Gained() <-chan struct{} { return e.gained }

// Start campaigns until ctx ends, and releases the Lease then, so that another replica takes over
// without waiting for it to expire.
func (e *Elector) Start(ctx context.Context) error {
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            e.lock,
			LeaseDuration:   leaseDuration,
			RenewDeadline:   renewDeadline,
			RetryPeriod:     retryPeriod,
			ReleaseOnCancel: true,
			Name:            e.lock.Describe(),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {
					e.leading.Store(true)
					e.log.Info("elected: this replica writes policy status")
					select {
					case e.gained <- struct{}{}:
					default: // a catch-up is already pending
					}
				},
				OnStoppedLeading: func() {
					if e.leading.Swap(false) {
						e.log.Info("no longer the leader: this replica stops writing policy status and keeps serving")
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx) // returns when the lease is lost or ctx ends
		select {
		case <-ctx.Done():
		case <-time.After(retryPeriod):
		}
	}
	return nil
}

// NeedLeaderElection: the elector runs on every replica.
func (e *Elector) NeedLeaderElection() bool { return false }
