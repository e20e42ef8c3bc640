// Package v1alpha1 holds the sealgate.dev/v1alpha1 policy API: ClusterAdmissionPolicy and
// PolicyException.
//
// +kubebuilder:object:generate=true
// +groupName=sealgate.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of the policy types.
var GroupVersion = schema.GroupVersion{Group: "sealgate.dev", Version: "v1alpha1"}

// Kind is the kind of the policy type; ExceptionKind is the other kind of the group.
const Kind = "ClusterAdmissionPolicy"

var (
	// SchemeBuilder registers the policy types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the policy types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ClusterAdmissionPolicy{}, &ClusterAdmissionPolicyList{},
		&PolicyException{}, &PolicyExceptionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
