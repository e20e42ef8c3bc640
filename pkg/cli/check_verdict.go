package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/workload"
)

// This file makes check give the cluster's verdict where a manifest alone would give another: the
// API server's defaults, the webhook's namespace exclusions and UPDATE (docs/cli.md, "The cluster's
// verdict").

// Operations check evaluates, as the webhook's AdmissionReview names them.
const (
	opCreate = "CREATE"
	opUpdate = "UPDATE"
)

// applyServerDefaults applies to a decoded manifest the API server's defaults that change a verdict
// (k8s.io/kubernetes pkg/apis/core/v1/defaults.go). The API server applies them when it decodes a
// request, before any admission webhook sees the object, so the webhook already sees them; check
// reads manifests as written and must apply them itself. Only fields whose default changes what a
// rule reads are defaulted, in place, so every field path stays the manifest's.
//
//   - Every kind: a volume with no source is an emptyDir volume (SetDefaults_Volume, which the API
//     server applies to pod templates too). Without it the restricted standard sees a volume of no
//     allowed type, and the upstream PSS fixture restrictedvolumes0 is denied by check and admitted
//     by the cluster.
//   - Pods only: in a hostNetwork pod, a container or init container port with no hostPort gets its
//     containerPort as hostPort (SetDefaults_Pod; pod templates are not defaulted this way). The
//     upstream hostPorts check then fails, which matters when an exception waives hostNamespaces
//     and not hostPorts.
//
// Every other default was compared against the API server's dryRun verdicts
// (test/integration/verdict_test.go, verdict_rules_test.go) and changes no verdict: the rules read
// an unset field as its default (allowPrivilegeEscalation as true, a container's limit as its
// request).
func applyServerDefaults(w *workload.Workload) {
	if _, builtin := workload.Lookup(w.GVK); !builtin {
		// The API server defaults custom resources only from their CRD's schema, never as pods.
		return
	}
	spec := w.Spec
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.VolumeSource == (corev1.VolumeSource{}) {
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	if w.GVK.Kind == "Pod" && spec.HostNetwork {
		for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
			for i := range cs {
				for j := range cs[i].Ports {
					if p := &cs[i].Ports[j]; p.HostPort == 0 {
						p.HostPort = p.ContainerPort
					}
				}
			}
		}
	}
}

// verdictOptions are the flags that make check's verdict the cluster's: --include-excluded,
// --operation and --old.
type verdictOptions struct {
	IncludeExcluded bool
	Operation       string
	Old             string
}

func (o *verdictOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.IncludeExcluded, "include-excluded", false, "evaluate objects in the namespaces the webhook excludes (kube-system and --sealgate-namespace) instead of reporting them as excluded")
	fs.StringVar(&o.Operation, "operation", opCreate, "admission operation to evaluate: CREATE, or UPDATE of the objects in --old")
	fs.StringVar(&o.Old, "old", "", "with --operation UPDATE: file or directory of the objects as they are now, matched to -f by kind, namespace and name")
}

// excludedNamespaces are the namespaces the webhook configuration (pkg/webhookconfig) excludes:
// kube-system and sealgate's own. The API server never sends sealgate an object in them.
func (o *checkOptions) excludedNamespaces() []string {
	return []string{"kube-system", o.SealgateNamespace}
}

// excluded reports whether the cluster would admit an object in namespace without asking sealgate.
func (o *checkOptions) excluded(namespace string) bool {
	return !o.Verdict.IncludeExcluded && slices.Contains(o.excludedNamespaces(), namespace)
}

// excludedObject is an object check did not evaluate because the webhook never sees it.
type excludedObject struct {
	objectRef
	Reason string `json:"reason"`
}

func (r *report) exclude(d *manifest.Document, w *workload.Workload, namespace string) {
	r.Excluded = append(r.Excluded, excludedObject{objectRef: refOf(d, w, namespace),
		Reason: "namespace " + namespace + " is excluded by the webhook configuration: the cluster admits it without asking sealgate (--include-excluded evaluates it)"})
}

// excludedText is the text output's line about excluded objects, or "".
func (r *report) excludedText() string {
	if len(r.Excluded) == 0 {
		return ""
	}
	var ns []string
	for _, e := range r.Excluded {
		if !slices.Contains(ns, e.Namespace) {
			ns = append(ns, e.Namespace)
		}
	}
	n := len(r.Excluded)
	return fmt.Sprintf("%d %s not evaluated: %s %s excluded by the webhook configuration, so the cluster admits %s without asking sealgate (--include-excluded evaluates %s)\n",
		n, plural(n, "object", "objects"), plural(len(ns), "namespace", "namespaces")+" "+strings.Join(ns, ", "), plural(len(ns), "is", "are"),
		plural(n, "it", "them"), plural(n, "it", "them"))
}

// objectKey identifies an object for matching --old to the new manifests: apiVersion's group, kind,
// namespace and name (versions differ between the stored and the applied object only in name).
type objectKey struct {
	Group, Kind, Namespace, Name string
}

// oldObjects reads --old: the objects as they are before the UPDATE, by key.
func (o *checkOptions) oldObjects() (map[objectKey]*workload.Workload, error) {
	if o.Verdict.Operation != opUpdate {
		return nil, nil
	}
	docs, _, err := manifest.ReadPaths([]string{o.Verdict.Old}, nil)
	if err != nil {
		return nil, fmt.Errorf("--old: %w", err)
	}
	out := map[objectKey]*workload.Workload{}
	for i := range docs {
		d := &docs[i]
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("--old: %s: apiVersion %q: %w", d.Where(), d.APIVersion, err)
		}
		gvk := gv.WithKind(d.Kind)
		if removed, ok := workload.Removed(gvk); ok {
			gvk = removed.Served // as the new objects are read (check_input.go)
		}
		w, err := o.CustomKinds.kinds.Decode(gvk, d.JSON)
		if errors.Is(err, workload.ErrNotWorkload) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("--old: %s: %w", d.Where(), err)
		}
		applyServerDefaults(w)
		key := o.keyOf(w)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--old: %s: %s %s/%s is in --old twice: keep one, the object as it is now", d.Where(), key.Kind, key.Namespace, key.Name)
		}
		out[key] = w
	}
	return out, nil
}

func (o *checkOptions) keyOf(w *workload.Workload) objectKey {
	ns := w.Object.Namespace
	if ns == "" {
		ns = o.DefaultNamespace
	}
	return objectKey{Group: w.GVK.Group, Kind: w.GVK.Kind, Namespace: ns, Name: w.Object.Name}
}

// unchangedNote is the note of an UPDATE the webhook admits without evaluating it.
const unchangedNote = "UPDATE leaves the pod spec and pod annotations as they are in --old: the webhook admits it without evaluating policies"

// asAdmitted makes w what the webhook would see (applyServerDefaults) and says how it would see it:
// op is the operation under --operation UPDATE ("" otherwise), and unchanged reports an UPDATE of an
// object in old whose pod spec and pod annotations are as they were (admission.Unchanged, the
// webhook's own test), which the webhook admits unevaluated so that scaling or relabelling never
// wedges an object that predates a policy. An object with no old counterpart is evaluated as the
// CREATE that applying it would be.
func (o *checkOptions) asAdmitted(w *workload.Workload, old map[objectKey]*workload.Workload) (op string, unchanged bool) {
	applyServerDefaults(w)
	if old == nil {
		return "", false
	}
	prev, ok := old[o.keyOf(w)]
	if !ok {
		return opCreate, false
	}
	return opUpdate, admission.Unchanged(w, prev)
}

func (o *verdictOptions) Validate() error {
	var errs []error
	switch o.Operation {
	case opCreate, "": // "": options built without flags (sealgate test)
		if o.Old != "" {
			errs = append(errs, errors.New("--old needs --operation UPDATE"))
		}
	case opUpdate:
		if o.Old == "" || o.Old == "-" {
			errs = append(errs, errors.New("--operation UPDATE needs --old FILE: the objects as they are in the cluster (not stdin)"))
		}
	default:
		errs = append(errs, fmt.Errorf("--operation %q: want CREATE or UPDATE", o.Operation))
	}
	return errors.Join(errs...)
}

// operation records, on the last result, the operation evaluated under --operation UPDATE ("" otherwise)
// and, for an unchanged UPDATE, that the webhook admits it unevaluated.
func (r *report) operation(op string, unchanged bool) {
	r.Results[len(r.Results)-1].Operation = op
	if unchanged {
		r.note(unchangedNote)
	}
}

// objectName is the object's name, or its generateName followed by *, as results name it.
func objectName(w *workload.Workload) string {
	if w.Object.Name == "" && w.Object.GenerateName != "" {
		return w.Object.GenerateName + "*"
	}
	return w.Object.Name
}
