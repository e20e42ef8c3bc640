package rules

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// spec.podSecurity.exclude turns Pod Security Standards checks off, as Kyverno's podSecurity.exclude
// does, named by upstream's check IDs. An entry without images turns its check off for the whole
// pod. An entry with images turns it off for the containers whose image matches: the check is run
// again, as upstream runs it, on the pod without those containers, and what it finds there is
// reported, so an exclusion never hides the pod's own fields or another container. Checks that
// judge only pod fields take no images.
//
// At the restricted level, four restricted checks replace a baseline one (capabilities_restricted
// replaces capabilities_baseline; likewise seccompProfile, procMount and restrictedVolumes over
// hostPathVolumes). What an exclusion exempts from the restricted check is still held to the
// baseline check it replaces, unless that one is excluded too: excluding capabilities_restricted
// relaxes those containers to the baseline capabilities, it does not let them add SYS_ADMIN.

// maxExclusions bounds exclude, and each entry's images, as the CRD schema does.
const maxExclusions = 64

// pssExclusion is one compiled exclude entry.
type pssExclusion struct {
	// images are the patterns of the containers exempted; nil exempts the whole pod.
	images []imageref.Pattern
}

// whole reports whether the exclusion turns its check off for the whole pod (false for nil).
func (ex *pssExclusion) whole() bool { return ex != nil && ex.images == nil }

// exempts reports whether the exclusion exempts the i-th container of t (false for nil): its image
// parses and a pattern matches it.
func (ex *pssExclusion) exempts(t *Target, i int) bool {
	if ex == nil {
		return false
	}
	if ex.images == nil {
		return true
	}
	im := &t.Images()[i] // the first images are the containers', in order
	if im.Err != nil {
		return false
	}
	for _, p := range ex.images {
		if p.Match(im.Ref) {
			return true
		}
	}
	return false
}

// pssPodChecks are the checks that judge only pod fields (host namespaces, volumes, sysctls): an
// exclusion of one takes no images.
var pssPodChecks = []psapolicy.CheckID{"hostNamespaces", "hostPathVolumes", "restrictedVolumes", "sysctls"}

// checkExcluded reports a failing check that the policy excludes: again on the pod without what
// the exclusion exempts, then, at the restricted level, the baseline check it replaces on what it
// exempts.
func (c *pssChecker) checkExcluded(cfg *pssConfig, id psapolicy.CheckID, ex *pssExclusion, t *Target, out *Findings) {
	if !ex.whole() {
		c.checkPart(cfg.LevelVersion, id, t, func(i int) bool { return !ex.exempts(t, i) }, false, out)
	}
	if cfg.Level != psaapi.LevelRestricted {
		return
	}
	baseline := psaapi.LevelVersion{Level: psaapi.LevelBaseline, Version: cfg.Version}
	for _, b := range c.overridden(id, c.effective(cfg.Version)) {
		bex := cfg.exclude[b]
		if bex.whole() {
			continue
		}
		// With images, the restricted check still judged the pod's own fields, more strictly than
		// the baseline one would: the baseline check adds the exempted containers only.
		c.checkPart(baseline, b, t, func(i int) bool { return ex.exempts(t, i) && !bex.exempts(t, i) }, !ex.whole(), out)
	}
}

// checkPart runs check id, as upstream runs it at lv, on the pod with only the containers keep
// keeps, and reports what it finds there, at the containers' paths in the whole pod.
func (c *pssChecker) checkPart(lv psaapi.LevelVersion, id psapolicy.CheckID, t *Target, keep func(int) bool, containersOnly bool, out *Findings) {
	fn := c.checkAt(id, c.effective(lv.Version))
	if fn == nil {
		return
	}
	sub := pssSubTarget(t, keep)
	if containersOnly && len(sub.containers) == 0 {
		return
	}
	if r := fn(sub.Meta, sub.Spec); !r.Allowed {
		scope := pssScope{partial: len(sub.containers) < len(t.containers), containersOnly: containersOnly}
		c.locate(out, lv, id, r.ForbiddenReason, r.ForbiddenDetail, sub, scope, nil)
	}
}

// pssSubTarget returns t with only the containers keep keeps: a copy of the pod spec with shorter
// container lists, and a Target over it whose containers keep their paths in t. The AppArmor and
// seccomp annotations of a container left out go with it, as they concern it alone.
func pssSubTarget(t *Target, keep func(int) bool) *Target {
	spec := *t.Spec
	spec.InitContainers, spec.Containers, spec.EphemeralContainers = nil, nil, nil
	sub := &Target{Meta: t.Meta, Spec: &spec, SpecPath: t.SpecPath, MetaPath: t.MetaPath, Namespace: t.Namespace}
	var left []string
	for i := range t.containers {
		c := t.containers[i]
		if !keep(i) {
			left = append(left, c.Name)
			continue
		}
		sub.containers = append(sub.containers, c)
		switch c.Kind {
		case Init:
			spec.InitContainers = append(spec.InitContainers, *c.Container)
		case Regular:
			spec.Containers = append(spec.Containers, *c.Container)
		case Ephemeral:
			spec.EphemeralContainers = append(spec.EphemeralContainers, t.Spec.EphemeralContainers[c.Index])
		}
	}
	sub.Meta = pssMetaWithout(t.Meta, left, sub.containers)
	return sub
}

// pssMetaWithout returns meta without the container annotations (AppArmor, and seccomp before
// v1.19) of the named containers, unless a kept container has the same name; meta itself when
// there are none.
func pssMetaWithout(meta *metav1.ObjectMeta, left []string, kept []Container) *metav1.ObjectMeta {
	var drop []string
	for k := range meta.Annotations {
		for _, prefix := range [...]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix, corev1.SeccompContainerAnnotationKeyPrefix} {
			name, ok := strings.CutPrefix(k, prefix)
			if ok && slices.Contains(left, name) && !slices.ContainsFunc(kept, func(c Container) bool { return c.Name == name }) {
				drop = append(drop, k)
			}
		}
	}
	if len(drop) == 0 {
		return meta
	}
	m := *meta
	m.Annotations = maps.Clone(meta.Annotations)
	for _, k := range drop {
		delete(m.Annotations, k)
	}
	return &m
}

// overridden returns the checks that check id replaces at version v.
func (c *pssChecker) overridden(id psapolicy.CheckID, v psaapi.Version) []psapolicy.CheckID {
	var ids []psapolicy.CheckID
	for _, vc := range c.checks[id] {
		if v.Older(vc.MinimumVersion) {
			break
		}
		ids = vc.OverrideCheckIDs
	}
	return ids
}

// compileExclusions validates spec.podSecurity.exclude, with paths under path, and compiles it; nil
// when it is empty.
func compileExclusions(ps *v1alpha1.PodSecurity, level psaapi.Level, path *field.Path) (map[psapolicy.CheckID]*pssExclusion, field.ErrorList) {
	if len(ps.Exclude) == 0 {
		return nil, nil
	}
	var errs field.ErrorList
	if len(ps.Exclude) > maxExclusions {
		errs = append(errs, field.TooMany(path, len(ps.Exclude), maxExclusions))
	}
	if level == psaapi.LevelPrivileged {
		errs = append(errs, field.Forbidden(path, "the privileged level runs no checks, so there is none to exclude"))
	}
	checks := map[psapolicy.CheckID]psapolicy.Check{}
	replacedBy := map[psapolicy.CheckID]psapolicy.CheckID{}
	for _, chk := range psapolicy.DefaultChecks() {
		checks[chk.ID] = chk
		for _, vc := range chk.Versions {
			for _, o := range vc.OverrideCheckIDs {
				replacedBy[o] = chk.ID
			}
		}
	}
	out := make(map[psapolicy.CheckID]*pssExclusion, len(ps.Exclude))
	for i := range ps.Exclude {
		e := &ps.Exclude[i]
		ep := path.Index(i)
		id := psapolicy.CheckID(e.Check)
		chk, known := checks[id]
		switch {
		case e.Check == "":
			errs = append(errs, field.Required(ep.Child("check"), "name a check, e.g. capabilities_restricted"))
		case !known:
			errs = append(errs, unknownCheck(ep.Child("check"), e.Check, checks))
		case out[id] != nil:
			d := field.Duplicate(ep.Child("check"), e.Check)
			d.Detail = "list each check once, with all its images"
			errs = append(errs, d)
		case level == psaapi.LevelBaseline && chk.Level == psaapi.LevelRestricted:
			errs = append(errs, field.Invalid(ep.Child("check"), e.Check, "a restricted check: the baseline level does not run it"))
		}
		ex := &pssExclusion{}
		if e.Images != nil {
			ipath := ep.Child("images")
			switch {
			case slices.Contains(pssPodChecks, id):
				errs = append(errs, field.Forbidden(ipath, strconv.Quote(e.Check)+
					" judges pod fields, not containers: remove images to turn it off for the whole pod"))
			case len(e.Images) == 0:
				errs = append(errs, field.Required(ipath, "list the image patterns of the containers to exempt, or leave images out to turn the check off for the whole pod"))
			case len(e.Images) > maxExclusions:
				errs = append(errs, field.TooMany(ipath, len(e.Images), maxExclusions))
			}
			ex.images = make([]imageref.Pattern, 0, len(e.Images))
			for j, raw := range e.Images {
				p, err := imageref.CompilePattern(raw)
				if err != nil {
					errs = append(errs, field.Invalid(ipath.Index(j), raw, "invalid pattern: "+err.Error()))
				}
				ex.images = append(ex.images, p)
			}
		}
		if known {
			out[id] = ex
		}
	}
	// At the restricted level a replaced baseline check does not run: excluding it alone does nothing.
	for i := range ps.Exclude {
		id := psapolicy.CheckID(ps.Exclude[i].Check)
		if r, ok := replacedBy[id]; ok && level == psaapi.LevelRestricted && out[r] == nil {
			errs = append(errs, field.Invalid(path.Index(i).Child("check"), ps.Exclude[i].Check,
				"at the restricted level "+strconv.Quote(string(r))+" runs in its place: exclude "+strconv.Quote(string(r))+
					", and this check too to turn both off"))
		}
	}
	return out, errs
}

// unknownCheck is the error for a check ID upstream does not have. Kyverno names its exclusions
// by control ("Capabilities"), so such a name gets the IDs it stands for.
func unknownCheck(path *field.Path, check string, checks map[psapolicy.CheckID]psapolicy.Check) *field.Error {
	if ids, ok := kyvernoControls[check]; ok {
		return field.Invalid(path, check, "name upstream check IDs: Kyverno's control "+strconv.Quote(check)+
			" is "+strings.Join(ids, " and ")+" here")
	}
	ids := make([]string, 0, len(checks))
	for id := range checks {
		ids = append(ids, string(id))
	}
	slices.Sort(ids)
	return field.NotSupported(path, check, ids)
}

// kyvernoControls maps the control names of Kyverno's podSecurity.exclude to upstream check IDs,
// for the error above only.
var kyvernoControls = map[string][]string{
	"HostProcess":              {"windowsHostProcess"},
	"Host Namespaces":          {"hostNamespaces"},
	"Privileged Containers":    {"privileged"},
	"Capabilities":             {"capabilities_baseline", "capabilities_restricted"},
	"HostPath Volumes":         {"hostPathVolumes"},
	"Host Ports":               {"hostPorts"},
	"AppArmor":                 {"appArmorProfile"},
	"SELinux":                  {"seLinuxOptions"},
	"/proc Mount Type":         {"procMount", "procMount_restricted"},
	"Seccomp":                  {"seccompProfile_baseline", "seccompProfile_restricted"},
	"Sysctls":                  {"sysctls"},
	"Volume Types":             {"restrictedVolumes"},
	"Privilege Escalation":     {"allowPrivilegeEscalation"},
	"Running as Non-root":      {"runAsNonRoot"},
	"Running as Non-root user": {"runAsUser"},
}
