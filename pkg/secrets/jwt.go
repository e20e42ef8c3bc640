package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// isJWT reports whether s, three base64url segments, is a JWT: its first segment decodes to a
// JSON object whose "alg" is a string (RFC 7515 section 4.1.1 makes alg the one required header
// parameter). The shape alone is not enough: base64 of any JSON object begins eyJ, and
// configuration holds plenty of base64 JSON.
func isJWT(s string) bool {
	header, _, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	// Some encoders pad; the compact serialization does not (RFC 7515 section 2).
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "="))
	if err != nil || !bytes.Contains(b, []byte(`"alg"`)) {
		return false
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	alg, ok := h["alg"]
	return ok && len(alg) > 0 && alg[0] == '"'
}
