package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// runAsRoot implements spec.containers.runAsRoot: Forbid requires every container to run as a
// non-root user, either by runAsNonRoot=true (the kubelet then refuses to start it as UID 0) or by
// an explicit non-zero runAsUser. The container's securityContext overrides the pod's
// spec.securityContext field by field, as the kubelet applies them. runAsUser=0 is a violation even
// with runAsNonRoot=true: the kubelet would refuse to start such a container, so it is reported
// at admission instead.
//
// The pod's spec.os is not consulted: Windows pods cannot set runAsUser but can set runAsNonRoot,
// which satisfies this rule (the kubelet then refuses the ContainerAdministrator user).
//
// Reads: spec.securityContext.{runAsNonRoot,runAsUser} and
// spec.{initContainers,containers,ephemeralContainers}[*].securityContext.{runAsNonRoot,runAsUser}.
// Allowed: effective runAsNonRoot=true, or effective runAsUser set and non-zero.
var runAsRoot = register(Def[struct{}]{
	ID:   "containers.runAsRoot",
	Name: "Containers run as a non-root user",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.RunAsRoot == v1alpha1.Forbidden), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		pod := t.Spec.SecurityContext
		for i := range t.Containers() {
			c := &t.Containers()[i]
			sc := c.SecurityContext
			var uid *int64
			var nonRoot *bool
			uidFromPod, nonRootFromPod := false, false
			if sc != nil {
				uid, nonRoot = sc.RunAsUser, sc.RunAsNonRoot
			}
			if uid == nil && pod != nil && pod.RunAsUser != nil {
				uid, uidFromPod = pod.RunAsUser, true
			}
			if nonRoot == nil && pod != nil && pod.RunAsNonRoot != nil {
				nonRoot, nonRootFromPod = pod.RunAsNonRoot, true
			}
			switch {
			case uid != nil && *uid == 0:
				path, what := c.Path("securityContext", "runAsUser"), containerOwner(c)+" sets runAsUser: 0 (root)"
				if uidFromPod {
					path, what = t.Path("securityContext", "runAsUser"), containerOwner(c)+" runs as user 0 (root), set by the pod's securityContext.runAsUser"
				}
				out.Add(Finding{Path: path, Container: c.Name,
					Message: found(what, "set runAsUser to a non-zero UID, or remove it and set runAsNonRoot: true")})
			case nonRoot != nil && *nonRoot, uid != nil:
				// Non-root by runAsNonRoot or by an explicit non-zero UID.
			default:
				what := containerOwner(c) + " sets neither runAsNonRoot nor runAsUser, so it runs as the image's user, which may be root"
				if nonRoot != nil {
					what = containerOwner(c) + " sets runAsNonRoot: false and no runAsUser"
					if nonRootFromPod {
						what = containerOwner(c) + " has runAsNonRoot: false from the pod's securityContext and no runAsUser"
					}
				}
				out.Add(Finding{Path: c.Path("securityContext", "runAsNonRoot"), Container: c.Name,
					Message: found(what, "set securityContext.runAsNonRoot: true on the container or the pod, or a non-zero runAsUser")})
			}
		}
	},
	CEL: func(*struct{}) []CELCheck {
		const (
			uid        = "c.?securityContext.?runAsUser"
			podUID     = CELSpec + ".?securityContext.?runAsUser"
			nonRoot    = "c.?securityContext.?runAsNonRoot"
			podNonRoot = CELSpec + ".?securityContext.?runAsNonRoot"
			fixUID     = "set runAsUser to a non-zero UID, or remove it and set runAsNonRoot: true"
			fixNonRoot = "set securityContext.runAsNonRoot: true on the container or the pod, or a non-zero runAsUser"
		)
		allowed := "(" + uid + ".or(" + podUID + ").hasValue() ? " + uid + ".or(" + podUID + ").value() != 0 : " +
			nonRoot + ".or(" + podNonRoot + ").orValue(false))"
		return celEach(celLists, allowed, func(path string) string {
			return "(" + uid + ".orValue(1) == 0 ? " + path + " + '.securityContext.runAsUser: ' + " + celOwner + " + " + celText(" sets runAsUser: 0 (root); "+fixUID) +
				" : !" + uid + ".hasValue() && " + podUID + ".orValue(1) == 0 ? " + CELSpecPath + " + '.securityContext.runAsUser: ' + " + celOwner + " + " +
				celText(" runs as user 0 (root), set by the pod's securityContext.runAsUser; "+fixUID) +
				" : " + path + " + '.securityContext.runAsNonRoot: ' + " + celOwner + " + (" +
				nonRoot + ".hasValue() ? ' sets runAsNonRoot: false and no runAsUser' : " +
				podNonRoot + ".hasValue() ? " + celText(" has runAsNonRoot: false from the pod's securityContext and no runAsUser") + " : " +
				celText(" sets neither runAsNonRoot nor runAsUser, so it runs as the image's user, which may be root") + ") + " + celText("; "+fixNonRoot) + ")"
		}, "", true)
	},
})
