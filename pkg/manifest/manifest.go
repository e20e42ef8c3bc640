// Package manifest reads Kubernetes objects from YAML or JSON files, directories and streams: the
// input of `sealgate check` and of policy files. Multi-document YAML and List objects (as printed by
// `kubectl get -o yaml` and `helm template`) are flattened into one document per object.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxDocumentBytes bounds one document, so a runaway input fails with a reason instead of eating memory.
const MaxDocumentBytes = 8 << 20

// Document is one object read from an input, in JSON, with where it came from.
type Document struct {
	// Source is the file name ("-" for standard input).
	Source string
	// Index is the 1-based position of the YAML document in Source; items of a List share it.
	Index int
	// Item is the 1-based position inside a List, or 0.
	Item int
	// APIVersion and Kind are read from the object.
	APIVersion, Kind string
	// JSON is the object.
	JSON []byte
}

// Where names the document for error messages: "file.yaml: document 2" or "file.yaml: document 2, item 3".
func (d *Document) Where() string {
	if d.Item > 0 {
		return fmt.Sprintf("%s: document %d, item %d", d.Source, d.Index, d.Item)
	}
	return fmt.Sprintf("%s: document %d", d.Source, d.Index)
}

// ReadPaths reads every file named, walking directories for *.yaml, *.yml and *.json in lexical
// order. "-" reads stdin.
func ReadPaths(paths []string, stdin io.Reader) ([]Document, error) {
	var docs []Document
	for _, p := range paths {
		if p == "-" {
			d, err := Read("-", stdin)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			d, err := readFile(f)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
	}
	return files, nil
}

func readFile(name string) ([]Document, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(name, f)
}

// Read splits a YAML or JSON stream into documents. Empty documents are skipped; a document that is
// not an object with apiVersion and kind is an error naming the source and document.
func Read(source string, r io.Reader) ([]Document, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	var docs []Document
	for index := 1; ; index++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, index, err)
		}
		if len(raw) > MaxDocumentBytes {
			return nil, fmt.Errorf("%s: document %d: larger than %d bytes", source, index, MaxDocumentBytes)
		}
		if isEmpty(raw) {
			index-- // a bare "---" separator is not a document users count
			continue
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, index, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			index--
			continue
		}
		d, err := split(source, index, js)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
}

func isEmpty(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			return false
		}
	}
	return true
}

type header struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

func split(source string, index int, js []byte) ([]Document, error) {
	var h header
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		return nil, fmt.Errorf("%s: document %d: not a Kubernetes object: %w", source, index, err)
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, fmt.Errorf("%s: document %d: not a Kubernetes object: apiVersion and kind are required", source, index)
	}
	if !strings.HasSuffix(h.Kind, "List") || h.Items == nil {
		return []Document{{Source: source, Index: index, APIVersion: h.APIVersion, Kind: h.Kind, JSON: js}}, nil
	}
	docs := make([]Document, 0, len(h.Items))
	for i, item := range h.Items {
		var ih header
		if err := kjson.UnmarshalCaseSensitivePreserveInts(item, &ih); err != nil || ih.Kind == "" || ih.APIVersion == "" {
			return nil, fmt.Errorf("%s: document %d, item %d: not a Kubernetes object: apiVersion and kind are required", source, index, i+1)
		}
		docs = append(docs, Document{Source: source, Index: index, Item: i + 1, APIVersion: ih.APIVersion, Kind: ih.Kind, JSON: item})
	}
	return docs, nil
}
