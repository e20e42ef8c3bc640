// Package secrets finds credentials written in plain text into a string: cloud access keys, PEM
// private keys, API tokens whose provider gives them a recognisable prefix, and JSON Web Tokens.
// It is what the containers.plaintextSecrets rule runs over env values, args and command, and what
// the image-config rule runs over the "NAME=value" entries of an image's config.
//
// # What it finds
//
// Only formats that are secret by their shape alone, so that an ordinary configuration value (a
// URL, a UUID, a digest, base64 configuration, a $(VAR) reference) is never taken for one. The
// table in patterns.go cites, for each kind, where its provider documents the format. Some kinds
// need context, and get it from a "NAME=value" string: an AWS secret access key is 40 characters
// that could be anything, so it is found only after a name that says it is one
// (AWS_SECRET_ACCESS_KEY=…), and an Azure storage or Service Bus key only after AccountKey= or
// SharedAccessKey=. Callers that hold an env var's name and value therefore pass "NAME=value".
// Twilio is not covered: its account and API key SIDs (AC…, SK…) are identifiers, not secrets,
// and its auth tokens and API key secrets are 32 hex digits with nothing to recognise them by.
//
// A policy adds its own formats with Compile: RE2 expressions, checked for size, and refused when
// they match the empty string.
//
// # Bounds
//
// Every expression is RE2 (Go's regexp), so matching takes time linear in the input, whatever the
// input and whatever a policy adds. Inputs are bounded by the caller (the admission request and
// the image config are). A JWT candidate is decoded once; candidates do not overlap, so decoding
// is linear too.
//
// # Never the value
//
// A Match holds the kind and the byte offsets of the secret, never a copy of it, and Fingerprint
// gives a short digest to name a secret in a message: the same secret always has the same
// fingerprint, so a reader can tell that two findings are one credential, and nothing in a
// fingerprint shows the secret.
//
// # Why not a library
//
// The issue asks for a maintained secret-pattern library where one fits. The candidates were:
//
//   - github.com/DefangLabs/secret-detector, a Go port of Yelp's detect-secrets. It is RE2 only,
//     but it misses formats the rule needs (GitHub fine-grained tokens, GitLab, Google API keys,
//     PyPI, OpenAI, Vault) and every token that is not delimited by white space or a line's ends
//     (a GitHub token or an AWS key inside a URL, an Azure AccountKey inside a connection
//     string); it reports Twilio account SIDs, which are not secrets; its matches carry the value
//     but no offsets; and it brings golang-jwt, an INI parser and a byte-size parser into the
//     webhook.
//   - gitleaks, whose rule set is the most complete, is a program rather than a library: its
//     detect package pulls in viper, a WASM runtime for its RE2 binding, terminal styling and git
//     diff parsing.
//
// So the patterns are written here, one table with a source for each.
package secrets
