package main

import (
	"fmt"
	"math"
)

// sizes are what the benchmark cluster holds; each is a flag.
type sizes struct {
	Namespaces int
	// Pods is the least number of pods in all; Deployments fill what the other kinds leave.
	Pods     int
	Replicas int // pods per Deployment
	// Per namespace:
	StatefulSets, DaemonSets, CronJobs, BarePods int
	StatefulSetReplicas                          int
	Nodes                                        int // pods per DaemonSet: one per node
	// Violating is the fraction of top-level objects made to violate a policy.
	Violating float64
}

func (s sizes) validate() error {
	switch {
	case s.Namespaces < 1 || s.Pods < 1 || s.Replicas < 1 || s.StatefulSetReplicas < 1 || s.Nodes < 1:
		return fmt.Errorf("--namespaces, --pods, --replicas, --statefulset-replicas and --nodes must be at least 1")
	case s.StatefulSets < 0 || s.DaemonSets < 0 || s.CronJobs < 0 || s.BarePods < 0:
		return fmt.Errorf("--statefulsets, --daemonsets, --cronjobs and --bare-pods must not be negative")
	case s.Violating < 0 || s.Violating > 1:
		return fmt.Errorf("--violating %g: want a fraction between 0 and 1", s.Violating)
	}
	return nil
}

// violation is what is wrong with a top-level object's pod template, if anything. Each one breaks
// at least one of examples/policies in every namespace.
type violation int

const (
	compliant     violation = iota
	privileged              // baseline (Enforce)
	latestTag               // warn-latest (Warn), audit-digests (Audit); production (Enforce) in prod
	noMemoryLimit           // audit-digests (Audit); production (Enforce) in prod
	hostPathVol             // baseline (Enforce)
	addSysAdmin             // baseline (Enforce)
	numViolations
)

var violationNames = [...]string{"compliant", "privileged", ":latest tag", "no memory limit", "a hostPath volume", "adds SYS_ADMIN"}

func (v violation) String() string { return violationNames[v] }

// unit is one top-level object and everything under it, created by one worker in order.
type unit struct {
	Kind      string // Deployment, StatefulSet, DaemonSet, CronJob or Pod
	Namespace string
	Name      string
	App       int // picks the image and the labels
	Pods      int
	Violation violation
	Prod      bool // the namespace is labelled env=prod
}

// plan is the whole benchmark cluster.
type plan struct {
	Sizes      sizes
	Namespaces []namespace
	Units      []unit
	// Counts per top-level kind, and in all.
	Kinds                map[string]int
	Objects, Pods        int
	Violating            int
	ViolatingByViolation map[violation]int
}

type namespace struct {
	Name   string
	Labels map[string]string
}

// newPlan lays out the cluster: per namespace the fixed kinds, then as many Deployments as it
// takes to reach Pods. Every other namespace is labelled env=prod, where examples/policies'
// production policy applies. The violating objects are spread evenly over the units.
func newPlan(s sizes) plan {
	p := plan{Sizes: s, Kinds: map[string]int{}, ViolatingByViolation: map[violation]int{}}
	perNs := (s.Pods + s.Namespaces - 1) / s.Namespaces
	fixed := s.StatefulSets*s.StatefulSetReplicas + s.DaemonSets*s.Nodes + s.CronJobs + s.BarePods
	deployments := max(0, (perNs-fixed+s.Replicas-1)/s.Replicas)
	app := 0
	for i := range s.Namespaces {
		prod := i%2 == 0
		env := map[bool]string{true: "prod", false: "dev"}[prod]
		ns := namespace{Name: fmt.Sprintf("bench-%02d", i), Labels: map[string]string{"env": env, "team": teams[i%len(teams)]}}
		p.Namespaces = append(p.Namespaces, ns)
		add := func(kind, prefix string, n, pods int) {
			for j := range n {
				p.Units = append(p.Units, unit{Kind: kind, Namespace: ns.Name, Name: fmt.Sprintf("%s-%s-%03d", prefix, apps[app%len(apps)], j),
					App: app, Pods: pods, Prod: prod})
				app++
			}
		}
		add("Deployment", "web", deployments, s.Replicas)
		add("StatefulSet", "db", s.StatefulSets, s.StatefulSetReplicas)
		add("DaemonSet", "agent", s.DaemonSets, s.Nodes)
		add("CronJob", "report", s.CronJobs, 1)
		add("Pod", "debug", s.BarePods, 1)
	}
	// Unit i violates when the running count of Violating*(i+1) steps up, so that the fraction holds
	// for every kind and namespace alike; the kinds of violation take turns.
	for i := range p.Units {
		u := &p.Units[i]
		if math.Floor(float64(i+1)*s.Violating) > math.Floor(float64(i)*s.Violating) {
			u.Violation = violation(1 + p.Violating%int(numViolations-1))
			p.Violating++
			p.ViolatingByViolation[u.Violation]++
		}
		p.Kinds[u.Kind]++
		p.Pods += u.Pods
		p.Objects += len(unitObjects(*u))
	}
	return p
}

var (
	apps  = []string{"cart", "checkout", "search", "catalog", "payments", "profile", "shipping", "ads", "reviews", "gateway"}
	teams = []string{"shop", "platform", "data", "growth"}
)
