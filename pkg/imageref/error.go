package imageref

import "strconv"

// maxQuotedInput bounds how much of a rejected input an error message repeats, so that
// a hostile multi-kilobyte image string cannot bloat denial messages, logs and events.
const maxQuotedInput = 256

// Error reports an image reference, pattern or digest that was rejected, and why.
// Callers that need the reason on its own (for a structured violation) can get it with
// errors.As.
type Error struct {
	// Kind is what was being parsed: "reference", "pattern" or "digest".
	Kind string
	// Input is the rejected text exactly as given.
	Input string
	// Reason says what is wrong, in lower case, e.g. "repository must be lower-case".
	Reason string
}

// Error returns `invalid image <kind> "<input>": <reason>`. The input is quoted with
// ASCII-only escapes so that look-alike characters (Cyrillic U+0435 in a host) and
// terminal control sequences are visible in the message instead of rendered.
func (e *Error) Error() string {
	in := e.Input
	suffix := ""
	if len(in) > maxQuotedInput {
		in, suffix = in[:maxQuotedInput], "..."
	}
	return "invalid image " + e.Kind + " " + strconv.QuoteToASCII(in) + suffix + ": " + e.Reason
}

func refError(input, reason string) error {
	return &Error{Kind: "reference", Input: input, Reason: reason}
}

func patternError(input, reason string) error {
	return &Error{Kind: "pattern", Input: input, Reason: reason}
}
