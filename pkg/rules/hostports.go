package rules

import (
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// hostPorts implements spec.containers.allowedHostPorts: every port a container opens on the node
// must fall in one of the policy's ranges (both ends included). That is every non-zero
// ports[*].hostPort and, when the pod is on the host network, every containerPort whose hostPort is
// unset: the API server defaults such a Pod's hostPort to its containerPort (not a pod template's),
// and the container listens on the node either way, so a workload and its pods get one verdict.
// The protocol and hostIP play no part. Whether the pod may use the host network at all is
// containers.hostNamespaces. Several offending ports of one container are one finding at its ports.
//
// Reads: spec.hostNetwork, spec.{initContainers,containers,ephemeralContainers}[*].ports[*].{hostPort,containerPort}.
var hostPorts = register(Def[hostPortRanges]{
	ID:   "containers.hostPorts",
	Name: "Containers use only allowed host ports",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*hostPortRanges, field.ErrorList) {
		if s.Containers == nil || s.Containers.AllowedHostPorts == nil {
			return nil, nil
		}
		ranges := s.Containers.AllowedHostPorts
		path := spec.Child("containers", "allowedHostPorts")
		var errs field.ErrorList
		if len(ranges) == 0 {
			errs = append(errs, field.Required(path, "list at least one range, or leave allowedHostPorts out to leave host ports unchecked"))
		}
		if len(ranges) > 64 {
			errs = append(errs, field.TooMany(path, len(ranges), 64))
		}
		for i, r := range ranges {
			p := path.Index(i)
			if r.Min < 1 || r.Min > 65535 {
				errs = append(errs, field.Invalid(p.Child("min"), r.Min, "must be a port between 1 and 65535"))
			}
			if r.Max < 1 || r.Max > 65535 {
				errs = append(errs, field.Invalid(p.Child("max"), r.Max, "must be a port between 1 and 65535"))
			} else if r.Max < r.Min {
				errs = append(errs, field.Invalid(p.Child("max"), r.Max, "must be at least min ("+strconv.Itoa(int(r.Min))+")"))
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		c := &hostPortRanges{ranges: ranges}
		parts := make([]string, len(ranges))
		for i, r := range ranges {
			parts[i] = strconv.Itoa(int(r.Min))
			if r.Max != r.Min {
				parts[i] += "-" + strconv.Itoa(int(r.Max))
			}
		}
		c.text = strings.Join(parts, ", ")
		return c, nil
	},
	Check: func(hp *hostPortRanges, t *Target, out *Findings) {
		hostNetwork := t.Spec.HostNetwork
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var bad entries
			for j := range c.Ports {
				p := &c.Ports[j]
				port, name := p.HostPort, "hostPort"
				if port == 0 && hostNetwork {
					port, name = p.ContainerPort, "containerPort"
				}
				if port == 0 || hp.allows(port) {
					continue
				}
				v := ""
				if !bad.full() {
					v = "ports[" + strconv.Itoa(j) + "]." + name + "=" + strconv.Itoa(int(port))
				}
				bad.add(j, v)
			}
			switch {
			case bad.n == 0:
				continue
			case bad.n == 1:
				name, what := "hostPort", " sets "
				if c.Ports[bad.index].HostPort == 0 {
					name, what = "containerPort", " listens on the node's network (hostNetwork: true) on "
				}
				out.Add(Finding{Path: c.Path("ports["+strconv.Itoa(bad.index)+"]", name), Container: c.Name,
					Message: found(containerOwner(c)+what+bad.first[0], hp.fix(true))})
			default:
				out.Add(Finding{Path: c.Path("ports"), Container: c.Name,
					Message: found(containerOwner(c)+" uses "+count(bad.n, "host port", "host ports")+" outside the allowed ranges: "+bad.plain(),
						hp.fix(false))})
			}
		}
	},
	CEL: func(hp *hostPortRanges) []CELCheck {
		// port is the port p opens on the node, 0 for none, as Check reads it.
		port := func(p string) string {
			return "(" + p + ".?hostPort.orValue(0) != 0 ? " + p + ".hostPort : " + CELSpec + ".?hostNetwork.orValue(false) ? " +
				p + ".?containerPort.orValue(0) : 0)"
		}
		bad := func(p string) string { return "[" + port(p) + "].exists(n, n != 0 && !" + hp.cel("n") + ")" }
		entry := func(j string) string {
			p := "c.ports[" + j + "]"
			return "'ports[' + string(" + j + ") + '].' + (" + p + ".?hostPort.orValue(0) != 0 ? 'hostPort=' : 'containerPort=') + string(" + port(p) + ")"
		}
		n := strconv.Itoa(MaxListedValues)
		return celEach(celLists, "!c.?ports.orValue([]).exists(p, "+bad("p")+")", func(path string) string {
			return "[c.ports.transformList(j, p, " + bad("p") + ", j)].map(b, size(b) == 1 ? " + path + " + '.ports[' + string(b[0]) + '].' + " +
				"(c.ports[b[0]].?hostPort.orValue(0) == 0 ? 'containerPort: ' + " + celOwner + " + ' listens on the node\\'s network (hostNetwork: true) on ' : " +
				"'hostPort: ' + " + celOwner + " + ' sets ') + " + entry("b[0]") + " + " + celText("; "+hp.fix(true)) +
				" : " + path + " + '.ports: ' + " + celOwner + " + ' uses ' + string(size(b)) + ' host ports outside the allowed ranges: ' + " +
				"b.transformList(k, j, k < " + n + ", " + entry("j") + ").join(', ') + (size(b) > " + n + " ? ', … (' + string(size(b) - " + n + ") + ' more)' : '') + " +
				celText("; "+hp.fix(false)) + ")[0]"
		}, "", true)
	},
})

// hostPortRanges is the compiled spec.containers.allowedHostPorts.
type hostPortRanges struct {
	ranges []v1alpha1.PortRange
	// text renders the ranges for messages: "80, 8000-9000".
	text string
}

func (hp *hostPortRanges) allows(port int32) bool {
	for _, r := range hp.ranges {
		if r.Min <= port && port <= r.Max {
			return true
		}
	}
	return false
}

// fix says what is allowed and how to comply, for one offending port or several.
func (hp *hostPortRanges) fix(one bool) string {
	change := "change them to allowed ports"
	if one {
		change = "change it to an allowed port"
	}
	return "host ports must be in " + hp.text + ": " + change +
		", or reach the container through a Service instead of a host port"
}

// cel is the CEL of allows: true when the int expression port is in a range.
func (hp *hostPortRanges) cel(port string) string {
	parts := make([]string, len(hp.ranges))
	for i, r := range hp.ranges {
		parts[i] = "(" + port + " >= " + strconv.Itoa(int(r.Min)) + " && " + port + " <= " + strconv.Itoa(int(r.Max)) + ")"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}
