package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode says what happens when a policy finds a violation.
// +kubebuilder:validation:Enum=Enforce;Warn;Audit
type Mode string

const (
	// ModeEnforce denies the request.
	ModeEnforce Mode = "Enforce"
	// ModeWarn admits the request and returns a warning to the client.
	ModeWarn Mode = "Warn"
	// ModeAudit admits the request and records the violation (audit annotation, log, metric).
	ModeAudit Mode = "Audit"
)

// Forbid is the value of a container knob that forbids a setting. Allow (or leaving the knob unset)
// does not check it.
// +kubebuilder:validation:Enum=Forbid;Allow
type Forbid string

// Require is the value of a container knob that requires a setting. Allow (or leaving the knob unset)
// does not check it.
// +kubebuilder:validation:Enum=Require;Allow
type Require string

const (
	// Forbidden forbids the setting.
	Forbidden Forbid = "Forbid"
	// Required requires the setting.
	Required Require = "Require"
	// AllowForbid is the explicit "not checked" value of a Forbid knob.
	AllowForbid Forbid = "Allow"
	// AllowRequire is the explicit "not checked" value of a Require knob.
	AllowRequire Require = "Allow"
)

// ClusterAdmissionPolicy says which workloads may enter the cluster. Every policy that matches an
// object applies; the object is denied if any matching Enforce policy finds a violation.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cap;caps,categories=sealgate
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Violations",type=integer,JSONPath=`.status.audit.violatingObjects`,description="Running objects (top owners) the policy finds a violation in, at the last audit"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAdmissionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec"`
	Status PolicyStatus `json:"status,omitempty"`
}

// ClusterAdmissionPolicyList is a list of policies.
//
// +kubebuilder:object:root=true
type ClusterAdmissionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAdmissionPolicy `json:"items"`
}

// PolicySpec is the desired behaviour of a policy. Sections left out are not checked.
type PolicySpec struct {
	// Mode is what a violation does: Enforce denies, Warn admits with a warning, Audit admits and records.
	// +kubebuilder:default=Enforce
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// Match selects the objects the policy applies to. Empty matches every pod-bearing object.
	// +optional
	Match Match `json:"match,omitempty"`

	// Images restricts where images come from and how they are referenced.
	// +optional
	Images *ImageRules `json:"images,omitempty"`

	// Signatures requires cosign signatures on images.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Signatures []SignatureRule `json:"signatures,omitempty"`

	// PodSecurity applies a Pod Security Standards level.
	// +optional
	PodSecurity *PodSecurity `json:"podSecurity,omitempty"`

	// Containers holds explicit security knobs checked on every container.
	// +optional
	Containers *ContainerRules `json:"containers,omitempty"`

	// Resources requires resource requests and limits and bounds them.
	// +optional
	Resources *ResourceRules `json:"resources,omitempty"`

	// ImageConfig judges what each container image's config says (its user), read from the image's
	// registry with the pod's pull credentials; the registry is asked only when the pod leaves the
	// answer to the image.
	// +optional
	ImageConfig *ImageConfigRules `json:"imageConfig,omitempty"`

	// Exceptions says whether the policy accepts PolicyExceptions, and from which namespaces.
	// Unset accepts them from sealgate's own namespace only.
	// +optional
	Exceptions *ExceptionRules `json:"exceptions,omitempty"`

	// Fallback: ValidatingAdmissionPolicy has sealgate keep a generated ValidatingAdmissionPolicy and
	// binding in sync with the policy, so the API server keeps enforcing the compiled rules while the
	// webhook is down. None (the default) generates nothing.
	// +kubebuilder:validation:Enum=None;ValidatingAdmissionPolicy
	// +optional
	Fallback FallbackMode `json:"fallback,omitempty"`
}

// FallbackMode says what enforces a policy while the webhook is down.
type FallbackMode string

const (
	// FallbackNone generates nothing: while the webhook is down, its failurePolicy decides.
	FallbackNone FallbackMode = "None"
	// FallbackVAP keeps a generated ValidatingAdmissionPolicy and binding in sync with the policy.
	FallbackVAP FallbackMode = "ValidatingAdmissionPolicy"
)

// ImageConfigRules are checks on the config blob of each container image.
type ImageConfigRules struct {
	// RunAsRoot: Forbid denies a container that would run as root because its image's config says
	// so (USER unset, 0 or root) or may (a USER name, which the kubelet cannot verify), when the pod
	// does not force non-root with runAsNonRoot=true or a non-zero runAsUser. A container whose pod
	// forces non-root costs no registry call.
	// +optional
	RunAsRoot Forbid `json:"runAsRoot,omitempty"`
	// PlaintextSecrets: Forbid denies an image whose config's environment holds a plain-text
	// credential: a secret baked into the image, readable by anyone who can pull it. The formats
	// are those of containers.plaintextSecrets, with its allowedEnv and patterns when it sets them.
	// The config of every container image is read.
	// +optional
	PlaintextSecrets Forbid `json:"plaintextSecrets,omitempty"`
}

// Match selects objects by namespace and labels.
type Match struct {
	// NamespaceSelector selects namespaces by label. Empty selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ObjectSelector selects objects by their own labels. Empty selects every object.
	// +optional
	ObjectSelector *metav1.LabelSelector `json:"objectSelector,omitempty"`
	// ExcludeNamespaces lists namespaces, by name, the policy never applies to.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	ExcludeNamespaces []string `json:"excludeNamespaces,omitempty"`
	// Kinds limits the policy to these pod-bearing kinds, each written as its kind ("Deployment") or
	// API group and kind ("apps/Deployment"); core kinds are written alone ("Pod"). An object is
	// matched by its own kind: a Deployment's pods are kind Pod, so [Deployment] does not cover them.
	// Absent matches every pod-bearing kind.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Kinds []string `json:"kinds,omitempty"`
}

// ImageRules restricts image references.
type ImageRules struct {
	// AllowedRegistries lists image patterns; an image that no pattern matches is denied. Patterns are
	// parsed references whose path segments may be '*' (exactly one segment) or '**' (any number of
	// segments), e.g. "registry.example.com/**", "ghcr.io/acme/*", optionally pinned to one tag
	// ("docker.io/library/ubuntu:24.04") or one digest ("ubuntu@sha256:..."). A tag-pinned pattern does
	// not allow that tag beside a digest: the digest is what runs. Unset means every registry is allowed.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// DeniedRegistries lists image patterns (same syntax as allowedRegistries); an image that any of
	// them matches is denied, whatever allowedRegistries says. A tag-pinned pattern also denies that
	// tag beside a digest ("ubuntu:24.04@sha256:..."). Unset or empty denies nothing.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	DeniedRegistries []string `json:"deniedRegistries,omitempty"`
	// RequireDigest requires every image to be pinned by digest (name@sha256:...).
	// +optional
	RequireDigest bool `json:"requireDigest,omitempty"`
	// DisallowLatestTag denies images tagged ":latest" and images with neither tag nor digest. A
	// reference pinned by digest is exact whatever its tag says, so "app:latest@sha256:..." is allowed.
	// +optional
	DisallowLatestTag bool `json:"disallowLatestTag,omitempty"`
}

// SignatureRule requires signatures on the images it names.
type SignatureRule struct {
	// Images lists the image patterns (same syntax as allowedRegistries, without tag or digest: a rule
	// covers every tag and digest of the repositories it names) this rule covers.
	// +kubebuilder:validation:MinItems=1
	Images []string `json:"images"`
	// Threshold is how many distinct signers among the attestors must verify: attestors that hold
	// the same key count once. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Threshold int `json:"threshold,omitempty"`
	// Attestors are the trusted signers.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Attestors []Attestor `json:"attestors"`
	// Attestations lists in-toto attestations that must be present and signed by the attestors.
	// +optional
	Attestations []AttestationRule `json:"attestations,omitempty"`
	// RegistryCredentials names registry credentials for this rule's images, tried after the pod's
	// imagePullSecrets and its ServiceAccount's, before sealgate's own Docker config.
	// +optional
	RegistryCredentials *RegistryCredentials `json:"registryCredentials,omitempty"`
}

// RegistryCredentials are registry credentials held in a Secret.
type RegistryCredentials struct {
	// SecretRef names a kubernetes.io/dockerconfigjson (or kubernetes.io/dockercfg) Secret.
	SecretRef SecretRef `json:"secretRef"`
}

// SecretRef names a Secret.
type SecretRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// AttestationRule requires an attestation of a predicate type.
type AttestationRule struct {
	// PredicateType is the in-toto predicate type, e.g. "https://slsa.dev/provenance/v1".
	PredicateType string `json:"predicateType"`
}

// Attestor is one trusted signer: exactly one of publicKey, secretRef or keyless.
type Attestor struct {
	// Name identifies the attestor in messages; unique within the rule.
	Name string `json:"name"`
	// PublicKey is one PEM PUBLIC KEY block: ECDSA P-256, P-384 or P-521, RSA of 2048 bits or more,
	// or Ed25519.
	// +optional
	PublicKey string `json:"publicKey,omitempty"`
	// SecretRef names a Secret key holding a PEM public key.
	// +optional
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`
	// Keyless trusts a certificate identity issued by a Sigstore certificate authority.
	// +optional
	Keyless *Keyless `json:"keyless,omitempty"`
	// TransparencyLog says whether transparency-log evidence in the signature bundle is required.
	// Defaults to Require for keyless and Ignore for keys.
	// +optional
	// +kubebuilder:validation:Enum=Require;Ignore
	TransparencyLog string `json:"transparencyLog,omitempty"`
	// TrustedRootRef points at a Sigstore trusted_root.json: the certificate authorities a keyless
	// attestor's certificates chain to, and the transparency logs whose keys verify log entries.
	// Required for keyless attestors and for key attestors with transparencyLog Require.
	// +optional
	TrustedRootRef *TrustedRootRef `json:"trustedRootRef,omitempty"`
}

// SecretKeyRef names a key in a Secret.
type SecretKeyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// +optional
	Key string `json:"key,omitempty"`
}

// Keyless is a certificate identity: the OIDC issuer and the subject, each exact or a regular expression.
type Keyless struct {
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// +optional
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
	// +optional
	Subject string `json:"subject,omitempty"`
	// +optional
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// TrustedRootRef points at a Sigstore trusted_root.json in a ConfigMap, a Secret or a file.
type TrustedRootRef struct {
	// +optional
	ConfigMap *SecretKeyRef `json:"configMap,omitempty"`
	// +optional
	Secret *SecretKeyRef `json:"secret,omitempty"`
	// +optional
	File string `json:"file,omitempty"`
}

// PodSecurity selects a Pod Security Standards level and version.
type PodSecurity struct {
	// Level is privileged, baseline or restricted.
	// +kubebuilder:validation:Enum=privileged;baseline;restricted
	Level string `json:"level"`
	// Version is "latest" or a Kubernetes minor version such as "v1.37". Defaults to latest.
	// +optional
	// +kubebuilder:validation:Pattern=`^(latest|v1\.[0-9]+)$`
	Version string `json:"version,omitempty"`
	// Exclude turns off checks of the level: for the whole pod, or for the containers of some
	// images. Each check may be listed once.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Exclude []PodSecurityExclusion `json:"exclude,omitempty"`
}

// PodSecurityExclusion turns off one Pod Security Standards check.
type PodSecurityExclusion struct {
	// Check is the upstream check ID, as violations name it (podSecurity.<check>):
	// "capabilities_restricted", "hostPorts", "runAsNonRoot", ...
	// +kubebuilder:validation:MaxLength=64
	Check string `json:"check"`
	// Images limits the exclusion to the containers whose image matches one of these patterns
	// (the syntax of images.allowedRegistries): the check still judges the pod's own fields and
	// every other container. Omitted, the check is off for the whole pod. Checks of pod fields
	// only (hostNamespaces, hostPathVolumes, sysctls, restrictedVolumes) take no images.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Images []string `json:"images,omitempty"`
}

// ContainerRules are security knobs checked on every container, init container and ephemeral container.
type ContainerRules struct {
	// Privileged: Forbid denies securityContext.privileged=true.
	// +optional
	Privileged Forbid `json:"privileged,omitempty"`
	// RunAsRoot: Forbid requires runAsNonRoot=true or a non-zero runAsUser (container or pod level).
	// +optional
	RunAsRoot Forbid `json:"runAsRoot,omitempty"`
	// AllowPrivilegeEscalation: Forbid requires allowPrivilegeEscalation=false on every container.
	// +optional
	AllowPrivilegeEscalation Forbid `json:"allowPrivilegeEscalation,omitempty"`
	// HostNamespaces: Forbid denies hostNetwork, hostPID and hostIPC.
	// +optional
	HostNamespaces Forbid `json:"hostNamespaces,omitempty"`
	// Capabilities restricts Linux capabilities.
	// +optional
	Capabilities *CapabilityRules `json:"capabilities,omitempty"`
	// ReadOnlyRootFilesystem: Require requires readOnlyRootFilesystem=true.
	// +optional
	ReadOnlyRootFilesystem Require `json:"readOnlyRootFilesystem,omitempty"`
	// RunAsUser requires every container's user ID (securityContext.runAsUser of the container,
	// else of the pod) to be set and in one of the ranges. Windows pods are exempt.
	// +optional
	RunAsUser *IDRanges `json:"runAsUser,omitempty"`
	// RunAsGroup requires every container's primary group ID (securityContext.runAsGroup of the
	// container, else of the pod) to be set and in one of the ranges. Windows pods are exempt.
	// +optional
	RunAsGroup *IDRanges `json:"runAsGroup,omitempty"`
	// FSGroup requires the pod's securityContext.fsGroup to be set and in one of the ranges.
	// Windows pods are exempt.
	// +optional
	FSGroup *IDRanges `json:"fsGroup,omitempty"`
	// SupplementalGroups requires the pod's securityContext.supplementalGroups to list at least one
	// group, each in one of the ranges. Windows pods are exempt.
	// +optional
	SupplementalGroups *IDRanges `json:"supplementalGroups,omitempty"`

	// AllowedHostPorts lists the ranges a container's host ports must fall in: every non-zero
	// ports[*].hostPort, and on the host network (hostNetwork: true) every containerPort, which is
	// then the port on the node. Unset means host ports are not checked. The baseline Pod Security
	// Standard forbids every host port; both apply.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	AllowedHostPorts []PortRange `json:"allowedHostPorts,omitempty"`
	// AllowedSysctls lists the sysctls a pod may set in spec.securityContext.sysctls: names such as
	// "kernel.shm_rmid_forced", prefixes ending in "*" such as "net.*", or "*" for every sysctl.
	// Names may use "/" as separator, as the kubelet accepts. Unset means sysctls are not checked;
	// the baseline Pod Security Standard still allows only its safe set.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	AllowedSysctls []string `json:"allowedSysctls,omitempty"`
	// AllowedHostPaths lists the host paths hostPath volumes may mount, by path prefix compared
	// segment by segment; a prefix with readOnly requires every mount of such a volume to be
	// read-only. Unset means hostPath volumes are not checked; the baseline Pod Security Standard
	// forbids them all.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	AllowedHostPaths []AllowedHostPath `json:"allowedHostPaths,omitempty"`
	// AllowedLocalhostProfiles lists the seccomp profiles a Localhost seccompProfile may name in
	// localhostProfile: exact names, prefixes ending in "*", or "*" for every one. Unset means
	// Localhost profiles are not checked.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	AllowedLocalhostProfiles []string `json:"allowedLocalhostProfiles,omitempty"`
	// AutomountServiceAccountToken: Forbid requires spec.automountServiceAccountToken=false. A pod
	// that leaves it unset gets its ServiceAccount's setting, which admission of a workload cannot
	// see, so only an explicit false passes.
	// +optional
	AutomountServiceAccountToken Forbid `json:"automountServiceAccountToken,omitempty"`
	// PlaintextSecrets flags credentials written in plain text into env values, args and command.
	// +optional
	PlaintextSecrets *PlaintextSecretRules `json:"plaintextSecrets,omitempty"`
}

// PlaintextSecretRules flags credentials written in plain text into a container's env values, args
// and command, where anyone who may read the pod reads them: cloud access keys, private keys, API
// tokens of known formats, JWTs, and the policy's own patterns.
type PlaintextSecretRules struct {
	// Mode: Forbid flags them; Allow (or unset) does not check, keeping the rest of the settings.
	// +optional
	Mode Forbid `json:"mode,omitempty"`
	// AllowedEnv lists environment variable names whose values are not checked: exact names, or
	// patterns where '*' stands for any run of characters ("PUBLIC_*").
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=256
	AllowedEnv []string `json:"allowedEnv,omitempty"`
	// Patterns adds secret formats to the built-in ones.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Patterns []SecretPattern `json:"patterns,omitempty"`
}

// SecretPattern is a secret format of the policy's own.
type SecretPattern struct {
	// Name names the format in messages ("Acme deploy key").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// Regex is an RE2 expression (Go's regexp syntax: no backreferences or lookaround). When it has
	// a capturing group, the first group is the secret and the rest is context; otherwise the
	// whole match is the secret. It must not match the empty string.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Regex string `json:"regex"`
}

// IDRanges are the user or group IDs a knob allows.
type IDRanges struct {
	// Ranges lists the allowed IDs as inclusive ranges; an ID is allowed when a range holds it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Ranges []IDRange `json:"ranges"`
}

// IDRange is an inclusive range of user or group IDs: min <= ID <= max.
type IDRange struct {
	// Min is the lowest ID allowed.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Min int64 `json:"min"`
	// Max is the highest ID allowed, at least min.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Max int64 `json:"max"`
}

// PortRange is a range of ports, both ends included.
type PortRange struct {
	// Min is the lowest port of the range.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Min int32 `json:"min"`
	// Max is the highest port of the range, at least Min.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Max int32 `json:"max"`
}

// AllowedHostPath is a host path prefix hostPath volumes may mount.
type AllowedHostPath struct {
	// PathPrefix is an absolute path; it allows itself and every path under it, segment by
	// segment: "/var/log" allows "/var/log/pods" but not "/var/logs".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	PathPrefix string `json:"pathPrefix"`
	// ReadOnly requires every volumeMount of a volume under this prefix to set readOnly: true.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
}

// CapabilityRules restricts Linux capabilities.
type CapabilityRules struct {
	// RequireDropAll requires capabilities.drop to contain ALL.
	// +optional
	RequireDropAll bool `json:"requireDropAll,omitempty"`
	// AllowedAdd lists the capabilities that may be added; any other added capability is denied.
	// Unset means no capability may be added. Names are upper case without the CAP_ prefix; "*",
	// alone, allows every capability.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	AllowedAdd []corev1.Capability `json:"allowedAdd,omitempty"`
	// RequiredDrop lists capabilities every container must drop: each must be in
	// securityContext.capabilities.drop, unless drop holds ALL. Names are upper case without the
	// CAP_ prefix.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	RequiredDrop []corev1.Capability `json:"requiredDrop,omitempty"`
}

// ResourceRules requires and bounds container resources. Ephemeral containers are exempt: they cannot
// set resources.
type ResourceRules struct {
	// RequireRequests lists resources every container must request, each once.
	// +optional
	// +listType=set
	RequireRequests []corev1.ResourceName `json:"requireRequests,omitempty"`
	// RequireLimits lists resources every container must limit, each once.
	// +optional
	// +listType=set
	RequireLimits []corev1.ResourceName `json:"requireLimits,omitempty"`
	// MaxLimits bounds each container's limits (and requests, which may not exceed limits).
	// +optional
	MaxLimits map[corev1.ResourceName]resource.Quantity `json:"maxLimits,omitempty"`
	// MaxRequests bounds each container's requests. A container with a limit and no request is
	// held to the bound by its limit, which its request defaults to.
	// +optional
	MaxRequests map[corev1.ResourceName]resource.Quantity `json:"maxRequests,omitempty"`
	// MaxLimitRequestRatio bounds limit/request for each resource, e.g. cpu: "4".
	// +optional
	MaxLimitRequestRatio map[corev1.ResourceName]resource.Quantity `json:"maxLimitRequestRatio,omitempty"`
}

// PolicyStatus says whether the policy is in force.
type PolicyStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// InForce records the last generation that compiled, with its spec. When the current spec does
	// not compile, every replica enforces this record, so replicas agree whatever their history;
	// without a record the policy is not in force. Written by sealgate only.
	// +optional
	InForce *InForceRecord `json:"inForce,omitempty"`
	// Conditions: Ready is True when the policy is in force.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Audit is what the background audit found among the objects already in the cluster. Written by
	// sealgate only; absent until the first scan.
	// +optional
	Audit *AuditStatus `json:"audit,omitempty"`
	// Fallback is the state of the ValidatingAdmissionPolicy and binding generated for
	// spec.fallback. Written by sealgate only; absent when spec.fallback is None.
	// +optional
	Fallback *FallbackStatus `json:"fallback,omitempty"`
}

// FallbackState is the state of the generated ValidatingAdmissionPolicy and binding.
type FallbackState string

const (
	// FallbackSynced: the objects in the cluster are those compiled from the in-force spec.
	FallbackSynced FallbackState = "Synced"
	// FallbackFailed: the objects could not be compiled or written; Message says why.
	FallbackFailed FallbackState = "Failed"
	// FallbackEmpty: no rule of the policy compiles, so there are no objects.
	FallbackEmpty FallbackState = "Empty"
)

// FallbackStatus is the state of the objects generated for spec.fallback.
type FallbackStatus struct {
	// State is Synced, Failed or Empty (no rule compiles; no objects).
	// +kubebuilder:validation:Enum=Synced;Failed;Empty
	State FallbackState `json:"state"`
	// Generation is the policy generation whose in-force spec the objects compile.
	Generation int64 `json:"generation"`
	// Name is the name of the ValidatingAdmissionPolicy and of its binding.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// Message says why when State is Failed (the API server's error, cut to 4096 bytes).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`
	// Rules lists how each rule the policy enables is compiled, in the compiler's order.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Rules []FallbackRule `json:"rules,omitempty"`
}

// FallbackRule is how one rule of the policy is enforced by the generated objects.
type FallbackRule struct {
	// Rule is the rule ID ("containers.privileged", "signatures[0]").
	// +kubebuilder:validation:MaxLength=128
	Rule string `json:"rule"`
	// State is Exact (the VAP denies what the webhook denies), Conservative (it may deny more, never
	// less) or NotCompiled (only the webhook enforces it).
	// +kubebuilder:validation:Enum=Exact;Conservative;NotCompiled
	State string `json:"state"`
	// Reason says why a rule is Conservative or NotCompiled.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
}

// AuditStatus is what the background audit found for this policy: the running objects it finds a
// violation in, counted by their top owner, so that a Deployment's pods count once.
type AuditStatus struct {
	// LastScanTime is when the counts were last computed.
	LastScanTime metav1.Time `json:"lastScanTime"`
	// Mode is the mode the counts were evaluated in: the policy's mode at that scan.
	Mode Mode `json:"mode"`
	// ViolatingObjects counts top-level objects (owners) with a violation.
	// +kubebuilder:validation:Minimum=0
	ViolatingObjects int32 `json:"violatingObjects"`
	// ViolatingPods counts the pods of those objects.
	// +kubebuilder:validation:Minimum=0
	ViolatingPods int32 `json:"violatingPods"`
	// Namespaces counts the namespaces with a violating object.
	// +kubebuilder:validation:Minimum=0
	Namespaces int32 `json:"namespaces"`
	// Rules counts violating objects per rule, worst first; at most 64 rules, the rest left out.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Rules []RuleCount `json:"rules,omitempty"`
}

// RuleCount is the number of violating objects one rule finds.
type RuleCount struct {
	// Rule is the rule ID.
	// +kubebuilder:validation:MaxLength=128
	Rule string `json:"rule"`
	// Objects counts the top-level objects the rule finds a violation in.
	// +kubebuilder:validation:Minimum=0
	Objects int32 `json:"objects"`
}

// InForceRecord is a generation of a policy that compiled, and the defaulted spec it compiled from.
type InForceRecord struct {
	// Generation is the metadata.generation that compiled.
	Generation int64 `json:"generation"`
	// Spec is that generation's spec, with defaults applied.
	Spec PolicySpec `json:"spec"`
}
