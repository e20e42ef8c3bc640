package audit

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The report APIs sealgate writes: OpenReports (the default) and the Policy WG's PolicyReport, which
// OpenReports succeeds and tools such as Policy Reporter still read.
const (
	APIOpenReports = "openreports.io/v1alpha1"
	APIPolicyWG    = "wgpolicyk8s.io/v1alpha2"
)

// ReportAPIs lists the values of --report-api and --audit-report-api.
var ReportAPIs = []string{APIOpenReports, APIPolicyWG}

// PolicyWGGroupVersion is the group and version of PolicyReport and ClusterPolicyReport.
var PolicyWGGroupVersion = schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}

// ToPolicyWG turns a Report into a PolicyReport, or a ClusterReport into a ClusterPolicyReport. The
// results and summary have the same shape in both APIs; the Policy WG's report has no top-level
// source and no configuration, so the limit is stated by the annotation alone.
func ToPolicyWG(report runtime.Object) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(report)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return nil, err
	}
	switch kind := u.GetKind(); kind {
	case "Report":
		u.SetKind("PolicyReport")
	case "ClusterReport":
		u.SetKind("ClusterPolicyReport")
	default:
		return nil, fmt.Errorf("%s is not a report", kind)
	}
	u.SetAPIVersion(PolicyWGGroupVersion.String())
	delete(u.Object, "source")
	delete(u.Object, "configuration")
	return u, nil
}
