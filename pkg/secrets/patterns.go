package secrets

// builtin is one format the default detector knows.
type builtin struct {
	// kind names the format in messages: "AWS access key ID".
	kind string
	// expr is an RE2 expression whose first group is the secret.
	expr string
	// keywords: the expression runs only on inputs holding one of them (none: always). They make
	// the common case, a value with no secret, a handful of substring searches.
	keywords []string
	// fold: the keywords are lower case and match in any case.
	fold bool
	// verify, when set, must accept a match before it counts.
	verify func(secret string) bool
}

// token is the expression of a secret that must stand on its own: not preceded or followed by a
// character of class, so that a token is never found inside a longer run of the same characters
// (a base64 blob that happens to contain "AKIA" and 16 capitals). class is the body of a
// bracket expression ("A-Za-z0-9_").
func token(expr, class string) string {
	return `(?:^|[^` + class + `])(` + expr + `)(?:[^` + class + `]|$)`
}

// pemBody is what follows a PEM private-key header: optional RFC 1421 header lines
// ("Proc-Type: 4,ENCRYPTED"), then base64 lines, with newlines written as they are or escaped
// ("\n" in JSON or a YAML double-quoted string). At least 32 base64 characters must follow, so a
// command that only names the header (grep -- '-----BEGIN PRIVATE KEY-----' file) is not a key.
const pemBody = `(?:\s|\\[rn])*` +
	`(?:[A-Za-z][A-Za-z-]*: [^\r\n\\]*(?:\s|\\[rn])+)*` +
	`[A-Za-z0-9+/=]{32}(?:[A-Za-z0-9+/=]|\s|\\[rn])*`

// pemLabel is the label of every private-key PEM type: "PRIVATE KEY", "RSA PRIVATE KEY",
// "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY", "PGP PRIVATE KEY BLOCK". Public keys and
// certificates have other labels and are never matched.
const pemLabel = `(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?`

// builtins is the default detector's table, in the order ties are broken. Each entry cites where
// the format is documented.
var builtins = []builtin{{
	// Access key IDs begin with AKIA (long-term) or ASIA (temporary, from STS); ABIA and ACCA are
	// the other credential prefixes of the same table. The ID alone grants nothing, but it is
	// never written without its secret key nearby.
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
	kind:     "AWS access key ID",
	expr:     token(`(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}`, `A-Za-z0-9`),
	keywords: []string{"AKIA", "ASIA", "ABIA", "ACCA"},
}, {
	// A secret access key is 40 characters of base64 with no mark of its own, so it is found only
	// after a name that says what it is: AWS_SECRET_ACCESS_KEY (the CLI's variable),
	// aws_secret_access_key (the credentials file), SecretAccessKey (STS responses).
	// https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html
	kind: "AWS secret access key",
	expr: `(?i:aws[a-z0-9_.-]{0,32}secret|secret[_.-]?access[_.-]?key)[A-Za-z0-9_.-]{0,32}` +
		`["']?\s{0,4}[:=]\s{0,4}["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`,
	keywords: []string{"secret"},
	fold:     true,
	verify:   mixedCase,
}, {
	// PEM-encoded private keys: PKCS #8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", RFC 7468
	// sections 10 and 11), the traditional OpenSSL forms ("RSA PRIVATE KEY", "EC PRIVATE KEY"),
	// OpenSSH's ("OPENSSH PRIVATE KEY", PROTOCOL.key in the OpenSSH sources) and OpenPGP's
	// ("PGP PRIVATE KEY BLOCK", RFC 4880 section 6.2). A Google service-account key file holds
	// its key in this form, in the JSON field private_key.
	// https://www.rfc-editor.org/rfc/rfc7468  https://cloud.google.com/iam/docs/keys-create-delete
	kind:     "private key",
	expr:     `(-----BEGIN ` + pemLabel + `-----` + pemBody + `(?:-----END ` + pemLabel + `-----)?)`,
	keywords: []string{"PRIVATE KEY"},
}, {
	// age identities: Bech32 with the human-readable part AGE-SECRET-KEY-, upper case.
	// https://age-encryption.org/v1 ("X25519 recipient stanza", identity encoding)
	kind:     "age secret key",
	expr:     token(`AGE-SECRET-KEY-1[02-9ACDEFGHJKLMNPQRSTUVWXYZ]{58}`, `A-Za-z0-9`),
	keywords: []string{"AGE-SECRET-KEY-1"},
}, {
	// Google API keys: 39 characters beginning AIza, the form of the example in the docs.
	// https://cloud.google.com/docs/authentication/api-keys
	kind:     "Google API key",
	expr:     token(`AIza[0-9A-Za-z_-]{35}`, `0-9A-Za-z_-`),
	keywords: []string{"AIza"},
}, {
	// Storage account keys are 512-bit, so 88 characters of base64 ending "==", and are written
	// in connection strings after AccountKey=.
	// https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string
	kind:     "Azure storage account key",
	expr:     `(?i:AccountKey)\s{0,4}=\s{0,4}([A-Za-z0-9+/]{86}==)(?:[^A-Za-z0-9+/=]|$)`,
	keywords: []string{"accountkey"},
	fold:     true,
}, {
	// Service Bus, Event Hubs and IoT Hub shared access keys are 256-bit, 44 characters of base64,
	// written in connection strings after SharedAccessKey=.
	// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas
	kind:     "Azure shared access key",
	expr:     `(?i:SharedAccessKey)\s{0,4}=\s{0,4}([A-Za-z0-9+/]{43}=)(?:[^A-Za-z0-9+/=]|$)`,
	keywords: []string{"sharedaccesskey"},
	fold:     true,
}, {
	// GitHub tokens: ghp_ (personal), gho_ (OAuth), ghu_ (user-to-server), ghs_ (server-to-server),
	// ghr_ (refresh), then at least 36 base62 characters.
	// https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats
	kind:     "GitHub token",
	expr:     token(`gh[pousr]_[A-Za-z0-9]{36,}`, `A-Za-z0-9_`),
	keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
}, {
	// Fine-grained personal access tokens.
	// https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens
	kind:     "GitHub fine-grained personal access token",
	expr:     token(`github_pat_[A-Za-z0-9_]{50,}`, `A-Za-z0-9_`),
	keywords: []string{"github_pat_"},
}, {
	// GitLab's token prefixes: personal, project and group access tokens (glpat-), OAuth
	// application secrets (gloas-), deploy tokens (gldt-), runner authentication tokens (glrt-),
	// CI/CD job tokens (glcbt-), pipeline trigger tokens (glptt-), feed tokens (glft-), incoming
	// mail tokens (glimt-), agent tokens (glagent-), SCIM tokens (glsoat-). A GitLab instance may
	// put its own prefix before these ("SIE-glpat-"), hence no boundary on the "-" side.
	// https://docs.gitlab.com/security/tokens/#token-prefixes
	kind: "GitLab token",
	expr: token(`(?:glpat|gloas|gldt|glrt|glcbt|glptt|glft|glimt|glagent|glsoat)-[0-9A-Za-z_.-]{20,}`,
		`0-9A-Za-z_`),
	keywords: []string{"glpat-", "gloas-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-",
		"glagent-", "glsoat-"},
}, {
	// Slack tokens: bot (xoxb-), user (xoxp-), app-level (xapp-), configuration (xoxe.xoxb-,
	// xoxe.xoxp-, refresh xoxe-), legacy workspace (xoxa-, xoxr-) and legacy (xoxo-, xoxs-).
	// https://api.slack.com/authentication/token-types
	kind:     "Slack token",
	expr:     token(`(?:xoxe\.xox[bp]|xox[abeoprs]|xapp)-[0-9]+-[0-9A-Za-z-]{8,}`, `0-9A-Za-z_`),
	keywords: []string{"xox", "xapp-"},
}, {
	// An incoming webhook's URL is its credential: "Your webhook URL contains a secret".
	// https://api.slack.com/messaging/webhooks
	kind:     "Slack webhook URL",
	expr:     `(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,})`,
	keywords: []string{"hooks.slack.com"},
}, {
	// Stripe live secret (sk_live_) and restricted (rk_live_) keys. Test-mode keys reach only test
	// data and are left to a policy's own patterns.
	// https://docs.stripe.com/keys
	kind:     "Stripe live API key",
	expr:     token(`[rs]k_live_[0-9A-Za-z]{24,}`, `0-9A-Za-z_`),
	keywords: []string{"k_live_"},
}, {
	// npm access tokens: npm_ and 36 base62 characters.
	// https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/
	kind:     "npm access token",
	expr:     token(`npm_[A-Za-z0-9]{36}`, `A-Za-z0-9_`),
	keywords: []string{"npm_"},
}, {
	// PyPI API tokens are macaroons written as "pypi-" and their base64url serialization, which
	// always begins AgE (version 2 of the macaroon format).
	// https://pypi.org/help/#apitoken
	kind:     "PyPI API token",
	expr:     token(`pypi-AgE[A-Za-z0-9_-]{50,}`, `A-Za-z0-9_-`),
	keywords: []string{"pypi-AgE"},
}, {
	// OpenAI API keys begin sk- (sk-proj-, sk-svcacct-, sk-admin- for the newer kinds). The sk-
	// prefix alone is too common to be sure of, so a key must also carry T3BlbkFJ, the base64 of
	// "OpenAI", which every key OpenAI issues holds in its middle.
	// https://platform.openai.com/docs/api-reference/authentication
	kind:     "OpenAI API key",
	expr:     token(`sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}`, `A-Za-z0-9_-`),
	keywords: []string{"T3BlbkFJ"},
}, {
	// SendGrid (Twilio) API keys: SG., 22 characters, ".", 43 characters.
	// https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys
	kind:     "SendGrid API key",
	expr:     token(`SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`, `A-Za-z0-9_.-`),
	keywords: []string{"SG."},
}, {
	// Vault service (hvs.), batch (hvb.) and recovery (hvr.) tokens.
	// https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes
	kind:     "HashiCorp Vault token",
	expr:     token(`hv[sbr]\.[A-Za-z0-9_-]{24,}`, `A-Za-z0-9_.-`),
	keywords: []string{"hvs.", "hvb.", "hvr."},
}, {
	// DigitalOcean personal access (dop_v1_), OAuth (doo_v1_) and refresh (dor_v1_) tokens.
	// https://docs.digitalocean.com/reference/api/create-personal-access-token/
	kind:     "DigitalOcean token",
	expr:     token(`do[por]_v1_[a-f0-9]{64}`, `A-Za-z0-9_`),
	keywords: []string{"_v1_"},
}, {
	// JSON Web Tokens in compact serialization: three base64url segments whose first, the JOSE
	// header, is a JSON object naming its "alg" (RFC 7515 section 4.1.1, RFC 7519 section 3).
	// A header always begins {" so its base64 begins eyJ. Kubernetes service-account tokens are
	// JWTs.
	// https://www.rfc-editor.org/rfc/rfc7519
	kind:     "JSON Web Token",
	expr:     token(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, `A-Za-z0-9_.-`),
	keywords: []string{"eyJ"},
	verify:   isJWT,
}}

// mixedCase reports whether s has both an upper-case and a lower-case letter: a random 40-character
// AWS secret key has both (the chance that it lacks one is under one in a billion), while the
// 40-hex-digit SHA-1 digests and commit IDs that also fit the expression do not.
func mixedCase(s string) bool {
	var upper, lower bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
	}
	return upper && lower
}
