package rules

// builtin lists every rule in the order findings are reported. Adding a rule is one file with its
// test, plus one line here.
func builtin() []Rule {
	return []Rule{
		imageReference,
		allowedRegistries,
		disallowLatestTag,
		requireDigest,
		podSecurity,
		privileged,
		runAsRoot,
		allowPrivilegeEscalation,
		hostNamespaces,
		capabilities,
		readOnlyRootFilesystem,
		requireRequests,
		requireLimits,
		maxLimits,
		maxLimitRequestRatio,
	}
}
