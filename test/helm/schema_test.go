//go:build helm

package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var (
	schemaPath = filepath.Join(chartDir, "values.schema.json")
	crdFile    = "sealgate.dev_clusteradmissionpolicies.yaml"
	// crdFiles are every CRD of sealgate's own API the chart ships in crds/.
	crdFiles = []string{crdFile, "sealgate.dev_policyexceptions.yaml"}
)

// TestChartCRDIsGenerated: the chart ships the CRDs that make generate writes, byte for byte.
func TestChartCRDIsGenerated(t *testing.T) {
	for _, crdFile := range crdFiles {
		want, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", crdFile))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "crds", crdFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/sealgate/crds/%s differs from config/crd/bases/%s: copy it (cp config/crd/bases/%s charts/sealgate/crds/)", crdFile, crdFile, crdFile)
		}
	}
}

// TestValuesSchemaStrict walks values.schema.json: every object schema either forbids unknown
// properties (additionalProperties: false) or is a map whose values have a schema (labels, resource
// lists, policies by name), so a mistyped key is rejected at every level.
func TestValuesSchemaStrict(t *testing.T) {
	s := readSchema(t)
	var walk func(path string, node any)
	walk = func(path string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "object" {
				switch ap := n["additionalProperties"].(type) {
				case bool:
					if ap {
						t.Errorf("%s: additionalProperties: true", path)
					}
				case map[string]any: // a map: every value has a schema
				default:
					t.Errorf("%s: object without additionalProperties: false", path)
				}
			}
			for k, v := range n {
				walk(path+"/"+k, v)
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", path, i), v)
			}
		}
	}
	walk("#", s)
}

// TestValuesSchemaPolicyFromCRD: $defs.policy in values.schema.json is the CRD's spec schema, made strict,
// plus "enabled". -update regenerates it (and writes the file in canonical form).
func TestValuesSchemaPolicyFromCRD(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "crds", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := policySchema(b)
	if err != nil {
		t.Fatal(err)
	}
	s := readSchema(t)
	defs, _ := s["$defs"].(map[string]any)
	if defs == nil {
		t.Fatal("values.schema.json has no $defs")
	}
	if *update {
		defs["policy"] = want
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, defs["policy"]); diff != "" {
		t.Errorf("$defs.policy in values.schema.json is not the CRD's spec schema (-want +got); run go test ./test/helm -run TestValuesSchemaPolicyFromCRD -update:\n%s", diff)
	}
}

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}

// policySchema converts the CRD's OpenAPI schema of spec into a JSON schema for one entry of
// values.policies: descriptions, defaults and Kubernetes extensions dropped, every object with
// properties closed, and "enabled" added.
func policySchema(crdYAML []byte) (map[string]any, error) {
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]any `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(crdYAML, &crd); err != nil {
		return nil, err
	}
	if len(crd.Spec.Versions) != 1 {
		return nil, fmt.Errorf("the CRD has %d versions; decide which one values.policies follows", len(crd.Spec.Versions))
	}
	spec, ok := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the CRD has no spec schema")
	}
	out, err := strictSchema("spec", spec)
	if err != nil {
		return nil, err
	}
	props := out["properties"].(map[string]any)
	props["enabled"] = map[string]any{"type": "boolean"}
	return out, nil
}

// Keywords kept from OpenAPI, dropped, or converted. Any other keyword is an error, so a CRD change
// that the conversion does not understand is noticed rather than silently weakened.
var (
	keptKeywords    = []string{"type", "enum", "pattern", "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "required", "minProperties", "maxProperties"}
	droppedKeywords = []string{"description", "default", "format", "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations"}
)

func strictSchema(path string, node map[string]any) (map[string]any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(node))
	for k := range node {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := node[k]
		switch {
		case slices.Contains(keptKeywords, k):
			out[k] = v
		case slices.Contains(droppedKeywords, k):
		case k == "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				s, err := strictSchema(path+"."+name, p.(map[string]any))
				if err != nil {
					return nil, err
				}
				props[name] = s
			}
			out[k] = props
		case k == "items" || k == "additionalProperties":
			s, err := strictSchema(path+"."+k, v.(map[string]any))
			if err != nil {
				return nil, err
			}
			out[k] = s
		case k == "anyOf":
			var list []any
			for _, a := range v.([]any) {
				s, err := strictSchema(path+"."+k, a.(map[string]any))
				if err != nil {
					return nil, err
				}
				list = append(list, s)
			}
			out[k] = list
		default:
			return nil, fmt.Errorf("%s: OpenAPI keyword %q is not handled by the conversion to values.schema.json", path, k)
		}
	}
	if out["type"] == "object" {
		_, hasProps := out["properties"]
		_, hasAP := out["additionalProperties"]
		switch {
		case hasProps && !hasAP:
			out["additionalProperties"] = false
		case !hasProps && !hasAP:
			return nil, fmt.Errorf("%s: free-form object in the CRD; values.schema.json cannot make it strict", path)
		}
	}
	if strings.Count(path, ".") > 20 {
		return nil, fmt.Errorf("%s: schema too deep", path)
	}
	return out, nil
}
