// Package v1alpha2 holds the wgpolicyk8s.io/v1alpha2 report API of the Kubernetes Policy Working Group:
// PolicyReport and ClusterPolicyReport, which tools such as Policy Reporter read. No Go module that
// resolves here ships these types, so sealgate defines the subset it writes. The results and the
// summary are the OpenReports types: openreports.io/v1alpha1 took them over from this API unchanged, so
// one set of results fills either kind of report.
//
// +kubebuilder:object:generate=true
// +groupName=wgpolicyk8s.io
package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of the report types.
var GroupVersion = schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}

var (
	// SchemeBuilder registers the report types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the report types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PolicyReport{}, &PolicyReportList{}, &ClusterPolicyReport{}, &ClusterPolicyReportList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
