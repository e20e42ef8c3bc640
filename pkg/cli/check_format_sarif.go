package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/rules"
)

// SARIF 2.1.0 (OASIS), the subset `sealgate check -o sarif` writes: one run, the rules of
// rules.Default() and any rule a result names, and a result per violation.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifMessage       `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
	Properties   map[string]string  `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification"`
}

// sarifLevel is a violation's SARIF level: Enforce is an error, Warn a warning, Audit and anything
// an exception waives a note.
func sarifLevel(m v1alpha1.Mode, excepted string) string {
	switch {
	case excepted != "":
		return "note"
	case m == v1alpha1.ModeEnforce:
		return "error"
	case m == v1alpha1.ModeWarn:
		return "warning"
	}
	return "note"
}

// splitFix splits a message into what was found and the fix, at the first "; " (the rules build
// every message as found(what, fix)); fix is empty when the message has no such part.
func splitFix(msg string) (what, fix string) {
	what, fix, _ = strings.Cut(msg, "; ")
	return what, fix
}

// sarifURI is a file name as a relative URI reference, with forward slashes and escapes.
func sarifURI(file string) string {
	return (&url.URL{Path: filepath.ToSlash(file)}).String()
}

// sarif builds the SARIF log. The message text is the whole message, fix included, since most
// viewers show only the text; the markdown form sets the fix apart, and the properties carry it
// alone. SARIF's fixes are left out: they need byte-exact replacements, which a message is not.
func (r *report) sarif() *sarifLog {
	var ruleList []sarifRule
	index := map[string]int{}
	addRule := func(id, name string) int {
		if i, ok := index[id]; ok {
			return i
		}
		index[id] = len(ruleList)
		ruleList = append(ruleList, sarifRule{ID: id, Name: name, ShortDescription: sarifMessage{Text: name}})
		return index[id]
	}
	names := map[string]string{}
	for _, rule := range rules.Default().Rules() {
		addRule(rule.ID, rule.Name)
		names[rule.ID] = rule.Name
	}
	ruleIndex := func(id string) int {
		if i, ok := index[id]; ok {
			return i
		}
		// A rule of a family ("podSecurity.privileged") is named after the family's rule.
		name := id
		if family, member, ok := strings.Cut(id, "."); ok && names[family] != "" {
			name = names[family] + ": " + member
		}
		return addRule(id, name)
	}
	results := []sarifResult{}
	for i := range r.Results {
		res := &r.Results[i]
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(res.File)}}}
		if res.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: res.Line, StartColumn: res.Column}
		}
		object := fmt.Sprintf("%s %s/%s", res.Kind, res.Namespace, res.Name)
		for j := range res.Violations {
			v := &res.Violations[j]
			what, fix := splitFix(v.Message)
			l := loc
			l.LogicalLocations = []sarifLogical{{FullyQualifiedName: object + " " + v.Path, Kind: "member"}}
			out := sarifResult{RuleID: v.Rule, RuleIndex: ruleIndex(v.Rule), Level: sarifLevel(v.Mode, v.Excepted),
				Message:    sarifMessage{Text: fmt.Sprintf("%s: %s: %s [%s/%s]", object, v.Path, v.Message, v.Policy, v.RuleList())},
				Locations:  []sarifLocation{l},
				Properties: map[string]string{"policy": v.Policy, "mode": string(v.Mode), "path": v.Path, "object": object}}
			out.Message.Markdown = fmt.Sprintf("%s: `%s`: %s", object, v.Path, what)
			if fix != "" {
				out.Message.Markdown += "\n\n**Fix:** " + fix
				out.Properties["fix"] = fix
			}
			if v.Container != "" {
				out.Properties["container"] = v.Container
			}
			if len(v.AlsoRules) > 0 {
				out.Properties["alsoRules"] = strings.Join(v.AlsoRules, ",")
			}
			if v.Excepted != "" {
				out.Properties["excepted"] = v.Excepted
				out.Suppressions = []sarifSuppression{{Kind: "external", Justification: "waived by PolicyException " + v.Excepted}}
			}
			results = append(results, out)
		}
		for _, o := range res.omissions {
			out := sarifResult{RuleID: o.Rule, RuleIndex: ruleIndex(o.Rule), Level: sarifLevel(o.Mode, o.Excepted),
				Message:    sarifMessage{Text: fmt.Sprintf("%s: %d more %s of %s/%s, not listed", object, o.Count, plural(o.Count, "violation", "violations"), o.Policy, o.Rule)},
				Locations:  []sarifLocation{loc},
				Properties: map[string]string{"policy": o.Policy, "mode": string(o.Mode), "object": object, "omitted": fmt.Sprint(o.Count)}}
			if o.Excepted != "" {
				out.Properties["excepted"] = o.Excepted
				out.Suppressions = []sarifSuppression{{Kind: "external", Justification: "waived by PolicyException " + o.Excepted}}
			}
			results = append(results, out)
		}
	}
	return &sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0",
		Runs: []sarifRun{{Tool: sarifTool{Driver: sarifDriver{Name: "sealgate", InformationURI: "https://github.com/sealgate/sealgate",
			Rules: ruleList}}, Results: results}}}
}

func (r *report) writeSARIF(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r.sarif())
}
