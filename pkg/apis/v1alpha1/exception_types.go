package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExceptionKind is the kind of PolicyException.
const ExceptionKind = "PolicyException"

// PolicyException waives named rules of named policies for the objects it matches. A waived
// violation no longer denies or warns, but it is still reported: in the admission response's audit
// annotation, in metrics and in audit reports, marked excepted with the exception's name. A policy
// accepts exceptions only from the namespaces its spec.exceptions allows (by default sealgate's own
// namespace), so that creating one takes an explicit RBAC grant there.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=sgex,categories=sealgate
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Policies",type=string,JSONPath=`.spec.policies[*].name`
// +kubebuilder:printcolumn:name="Expires",type=string,format=date-time,JSONPath=`.spec.expires`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PolicyException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicyExceptionSpec   `json:"spec"`
	Status PolicyExceptionStatus `json:"status,omitempty"`
}

// PolicyExceptionList is a list of exceptions.
//
// +kubebuilder:object:root=true
type PolicyExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicyException `json:"items"`
}

// PolicyExceptionSpec says what is waived, for which objects, why and until when.
type PolicyExceptionSpec struct {
	// Reason says why the exception exists; it is shown with every violation it waives.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
	// Expires is when the exception stops applying; unset never expires. After it, the violations
	// it waived deny (or warn) again and its status says Expired.
	// +optional
	Expires *metav1.Time `json:"expires,omitempty"`
	// Policies names the policies and rules waived.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Policies []ExceptionPolicy `json:"policies"`
	// Match says which objects, and optionally which containers, the exception covers. Empty
	// covers every object in the exception's own namespace.
	// +optional
	Match ExceptionMatch `json:"match,omitempty"`
}

// ExceptionPolicy names one policy and the rules of it that are waived.
type ExceptionPolicy struct {
	// Name is the ClusterAdmissionPolicy's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Rules lists rule IDs ("containers.privileged") or rule families ("podSecurity" waives
	// "podSecurity.privileged" and every other podSecurity check). Empty waives every rule of the policy.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	Rules []string `json:"rules,omitempty"`
}

// ExceptionMatch selects the objects an exception covers. Every field that is set must match.
type ExceptionMatch struct {
	// Namespaces lists the namespaces of the objects covered, as globs ('*' any run of characters,
	// '?' one). Empty covers the exception's own namespace only. An exception that lives outside
	// sealgate's own namespace covers objects in its own namespace only, whatever this says.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`
	// Kinds lists the kinds covered ("DaemonSet", "Pod"). Empty covers every pod-bearing kind. A
	// controller's pods are admitted on their own: list Pod too to cover them.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	Kinds []string `json:"kinds,omitempty"`
	// Names lists the names of the objects covered, as globs ("cilium", "cilium-*"). Empty covers
	// every name.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`
	// Selector selects the objects covered by their own labels. Unset covers every object.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Containers lists container (or image volume) names, as globs. When set, only violations of
	// those containers are waived; violations of the pod itself (hostNetwork, volumes) never are.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Containers []string `json:"containers,omitempty"`
	// Images lists image patterns (the syntax of spec.images.allowedRegistries: "ghcr.io/acme/*",
	// "registry.example.com/**"). When set, only violations of containers whose image matches are
	// waived; violations of the pod itself never are.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	Images []string `json:"images,omitempty"`
}

// PolicyExceptionStatus says whether the exception applies.
type PolicyExceptionStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready is True when the exception applies to every policy it names; False with
	// reason Invalid, Expired or NotAllowed (a policy it names forbids exceptions, or does not accept
	// them from this namespace) otherwise. Written by sealgate only.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ExceptionRules say whether a policy accepts exceptions, and from where.
type ExceptionRules struct {
	// Forbid makes the policy ignore every PolicyException.
	// +optional
	Forbid bool `json:"forbid,omitempty"`
	// AllowedNamespaces lists the namespaces whose PolicyExceptions the policy accepts, replacing
	// the default: sealgate's own namespace only. Whoever may create a PolicyException in one of
	// them may waive this policy for objects in that namespace.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
}
