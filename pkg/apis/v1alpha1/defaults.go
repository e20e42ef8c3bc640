package v1alpha1

// Default fills the fields a user may leave out. It is the one place defaults are applied, for
// policies from files and from the cluster alike (the CRD schema defaults only spec.mode, so that
// `kubectl get` shows the mode; the rest are applied here when a policy is compiled).
func (p *ClusterAdmissionPolicy) Default() {
	if p.Spec.Mode == "" {
		p.Spec.Mode = ModeEnforce
	}
	if ps := p.Spec.PodSecurity; ps != nil && ps.Version == "" {
		ps.Version = "latest"
	}
	for i := range p.Spec.Signatures {
		s := &p.Spec.Signatures[i]
		if s.Threshold == 0 {
			s.Threshold = 1
		}
		for j := range s.Attestors {
			a := &s.Attestors[j]
			if a.TransparencyLog == "" {
				if a.Keyless != nil {
					a.TransparencyLog = "Require"
				} else {
					a.TransparencyLog = "Ignore"
				}
			}
		}
	}
}
