package cli

import (
	"encoding/json"
	"io"
)

// writeJSON writes v as the commands' JSON output: indented, with <, > and & as they are, since the
// reader is a person or jq, never an HTML page.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
