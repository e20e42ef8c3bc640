package workload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/workload"
)

// FuzzDecodeMatchesAPIMachinery is TestDecodeMatchesAPIMachinery and
// TestDecodeRejectsWhatAPIMachineryRejects over arbitrary input, read as a Pod:
//
//   - what sigs.k8s.io/json accepts into a corev1.Pod, workload.Decode accepts, and both see the same
//     metadata and pod spec (decodedView);
//   - what sigs.k8s.io/json rejects, workload.Decode rejects, unless the only fault is in a part
//     workload.Decode does not read.
//
// Documented exceptions, where the two decoders may disagree and the input is not judged:
//
//   - Repeated member names. sigs.k8s.io/json decodes a repeated name into the value already there:
//     a null leaves a scalar or struct unchanged, an array is decoded into the existing elements.
//     workload.Decode's hand-written unmarshalers (fast.go) do the same, but the fields they hand to
//     json v2 take json v2's reading (a null zeroes, an array starts from zero elements). The API
//     server's strict field validation rejects repeated names, and TestDecodeDuplicateFields and
//     pod-fast-duplicates.json hold the cases the rules depend on.
//   - Faults in what workload.Decode skips: the object's metadata other than name, generateName,
//     namespace, labels and annotations; status; and the pod spec fields of skip.go (env, envFrom,
//     volume mounts and devices, tolerations, affinity, topology spread constraints, the inside of
//     every volume source but hostPath and image). Their values
//     are stepped over without being typed, so a type error or a bad time or quantity there goes
//     unnoticed. The fuzz target checks this by deleting those parts and decoding again with
//     sigs.k8s.io/json, which must then accept.
//
// Invalid UTF-8 is not an exception: both decoders turn it (and lone surrogate escapes) into U+FFFD.
func FuzzDecodeMatchesAPIMachinery(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("testdata", "invalid")} {
		files, _ := filepath.Glob(filepath.Join(dir, "pod-*.json"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	pod, err := json.Marshal(typedKinds["Pod"].fixture())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pod)
	for _, s := range []string{`{}`, `null`, `{"spec":null}`, `{"spec":{"containers":[null]}}`,
		`{"spec":{"containers":[{"name":"a","ports":[{"containerPort":-0}]}]}}`,
		`{"metadata":{"labels":{"a":"\ud800"}},"spec":{"containers":[{"image":"\u00e9\u0000"}]}}`} {
		f.Add([]byte(s))
	}
	// Probe ports, an IntOrString read by hand in its common forms and by its own method otherwise.
	for _, port := range []string{`"http"`, `8080`, `-0`, `-1`, `2147483648`, `80.0`, `1e2`, `null`, `true`,
		`"\u0068ttp"`, `"\u00e9"`, `""`, `{}`, `[]`} {
		f.Add([]byte(`{"spec":{"containers":[{"name":"a","livenessProbe":{"httpGet":{"port":` + port +
			`}},"readinessProbe":{"tcpSocket":{"port":` + port + `}}}]}}`))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if hasDuplicateNames(data) {
			return
		}
		var want corev1.Pod
		wantErr := kjson.UnmarshalCaseSensitivePreserveInts(data, &want)
		w, err := workload.Decode(podGVK, data)
		if wantErr == nil {
			if err != nil {
				t.Fatalf("workload.Decode rejects what the API machinery accepts: %v\ninput: %q", err, data)
			}
			obj, _, spec := decodedView(&want.ObjectMeta, &want.ObjectMeta, &want.Spec)
			if diff := cmp.Diff(spec, w.Spec, quantityCmp); diff != "" {
				t.Fatalf("pod specs differ (-API machinery +workload.Decode):\n%s\ninput: %q", diff, data)
			}
			if diff := cmp.Diff(obj, w.Object); diff != "" {
				t.Fatalf("metadata differs (-API machinery +workload.Decode):\n%s\ninput: %q", diff, data)
			}
			return
		}
		if err != nil {
			return // both reject
		}
		// workload.Decode accepts what the API machinery rejects: the fault must be in a part that
		// workload.Decode does not read.
		read, ok := readParts(data)
		if !ok {
			t.Fatalf("workload.Decode accepts input that is not JSON the API machinery can read (%v): %q", wantErr, data)
		}
		var again corev1.Pod
		if err := kjson.UnmarshalCaseSensitivePreserveInts(read, &again); err != nil {
			t.Fatalf("workload.Decode accepts what the API machinery rejects (%v), and the fault is in a part it reads (%v)\ninput: %q", wantErr, err, data)
		}
	})
}

// hasDuplicateNames reports whether some object in data repeats a member name (after unescaping).
func hasDuplicateNames(data []byte) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(false))
	for {
		_, err := dec.ReadToken()
		if err != nil {
			return errors.Is(err, jsontext.ErrDuplicateName)
		}
	}
}

// readParts returns the parts of a Pod that workload.Decode reads, re-encoded: data without the
// unread metadata, the status and everything else at the top level, and the skipped pod spec fields.
// It returns false if data is not a JSON object encoding/json can read.
func readParts(data []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers as written: 1.0 must stay invalid for an int
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	out := map[string]any{}
	if m, ok := obj["metadata"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range []string{"name", "generateName", "namespace", "labels", "annotations"} {
			if v, ok := m[k]; ok {
				kept[k] = v
			}
		}
		out["metadata"] = kept
	} else if v, ok := obj["metadata"]; ok {
		out["metadata"] = v
	}
	if spec, ok := obj["spec"]; ok {
		if s, ok := spec.(map[string]any); ok {
			for _, k := range []string{"tolerations", "affinity", "topologySpreadConstraints"} {
				delete(s, k)
			}
			vs, _ := s["volumes"].([]any)
			for _, v := range vs {
				if v, ok := v.(map[string]any); ok {
					for k, src := range v {
						if _, isObject := src.(map[string]any); isObject && k != "hostPath" && k != "image" {
							v[k] = map[string]any{} // only whether it is set is read
						}
					}
				}
			}
			for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
				cs, _ := s[list].([]any)
				for _, c := range cs {
					if c, ok := c.(map[string]any); ok {
						for _, k := range []string{"env", "envFrom", "volumeMounts", "volumeDevices"} {
							delete(c, k)
						}
					}
				}
			}
		}
		out["spec"] = spec
	}
	b, err := json.Marshal(out)
	return b, err == nil
}
