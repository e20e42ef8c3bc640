package secrets

import "strings"

// The samples below have the format of real credentials and were generated at random for these
// tests: none was ever issued by a provider.

// pemLines is a fake key body: random bytes in base64, 64 characters a line.
var pemLines = []string{
	"6X4Yvlw4UA2jTunnvQH3g0gcvr+2XA0hkvvg3QdFOlqJBJtMi+3irmHtqLaLotLe",
	"ZJ/rcthRuQHq26kgS/f1MFr1WPSg0IDk/0hqsu4YcyQ5YYlUrK1MP5avb/UFzxA6",
	"YcSzNSgM9hVcXxusL73rqNiZqe0P9KQTBWk8sxGOq2/Rf0Ic/gSKGtnNMpHLn6Ha",
	"E9XD6sP3YKVD9RNTmh1Mtjs9ctYge6jIUsFLM24NbyBv9UEkwF3lJJD9uMfPzkmq",
}

func pem(label, sep string, headers ...string) string {
	lines := append([]string{"-----BEGIN " + label + "-----"}, headers...)
	lines = append(lines, pemLines...)
	return strings.Join(append(lines, "-----END "+label+"-----"), sep)
}

const (
	fakeAWSAccessKeyID  = "AKIAC36AN57RKC7UEPXC"
	fakeAWSSecretKey    = "faEryMUEO538iPuC0Eee+MjktXVtom4vyS315FJs"
	fakeAgeKey          = "AGE-SECRET-KEY-1T83AN2TT7K5MWQZ4509SUE2CL037LY2LAEG6KCL2UX6ZQUYRK9FXALGAMU"
	fakeGoogleAPIKey    = "AIzaRH62QtEPez9doL3FLlfnKu9sUZySxky2AmN"
	fakeAzureStorageKey = "725AIUoaA20Wzi2lhSGU62yK7L/HZ4RSJ9599kUZv1iNcPPjYVKxEvNmgCj1y4cYzRyPggeUYPvupSvdSlY4Sh=="
	fakeAzureSASKey     = "s4854wT2R6Xym3tfxy2UWggvNCgwmUxMfY2jSy+uvZ7="
	fakeGitHubPAT       = "ghp_8Xv4cl14lLTAjGP4Szgz90hpgBUOtUsIP25g"
	fakeGitHubAppToken  = "ghs_w16HNEMpIsaQk9RySogGOWEgK5zLnswe4mN3"
	fakeGitHubFineGrain = "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"
	fakeGitLabPAT       = "glpat-HGwl6btJkNsnpKQaH2sh"
	fakeSlackBotToken   = "xoxb-090380324620-5817477220692-CQ5S00XlvGQEjcFLykESrnFH"
	fakeSlackWebhook    = "https://hooks.slack.com/services/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"
	fakeStripeKey       = "sk_live_ZDBtlViWOzISImR8VpUj1yn3"
	fakeNPMToken        = "npm_GMFR10QyY9meIUVj2MLIieQzDf28n8aDlQkx"
	fakePyPIToken       = "pypi-AgEIcHlwaS5vcmcXAFQMHth_1TRaPLg0K6vo12lp7ujWkaH9k1o09CYc46-1Mt5vD8-7ZM5cV7M"
	fakeOpenAIKey       = "sk-proj-xECVudehv1Nvzdv7OfFeT3BlbkFJcs_6Tc1THctGfsEo8LSO"
	fakeSendGridKey     = "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"
	fakeVaultToken      = "hvs.FWZ7n1lFhniIFJRKVrSqjb5pZcur0E87ivkRIth4fge40NULr7QTiHLSnGWO72ZvJotva4U3IuOyqggvthLT7UNGjz"
	fakeDigitalOcean    = "dop_v1_b227e7891dae1baff9f0b8f57cda83a3238d755095a635a0af6e1f409534f991"
	// {"alg":"RS256","kid":"fake","typ":"JWT"} . {"iss":"https://issuer.example","sub":"system:serviceaccount:default:fake","exp":1700000000} . random
	fakeJWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UiLCJ0eXAiOiJKV1QifQ." +
		"eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIuZXhhbXBsZSIsICJzdWIiOiAic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6ZmFrZSIsICJleHAiOiAxNzAwMDAwMDAwfQ." +
		"XvsWb930cdvJZy9WERCUebsbqAIFj_0h5VaBwASdLt_Xlq8jMx-8Lh9LfUikT2eovqfD1gjMf0VQLXGXba7DiW"
)

// sample is an input holding one secret of a kind: want is the secret as Find must delimit it.
type sample struct {
	name, kind, input, want string
}

func samples() []sample {
	pkcs8 := pem("PRIVATE KEY", "\n")
	rsa := pem("RSA PRIVATE KEY", "\n")
	// A Google service-account key file: JSON, its key's newlines escaped.
	gcpKey := pem("PRIVATE KEY", `\n`)
	gcpJSON := `{"type": "service_account", "project_id": "acme", "private_key_id": "0123abcd", "private_key": "` +
		gcpKey + `\n", "client_email": "ci@acme.iam.gserviceaccount.com"}`
	encrypted := pem("RSA PRIVATE KEY", "\n", "Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF", "")
	openssh := pem("OPENSSH PRIVATE KEY", "\n")
	pgp := pem("PGP PRIVATE KEY BLOCK", "\n", "Version: GnuPG v2", "")
	// A key pasted on one line, as a --set on the helm command line turns it.
	oneLine := pem("EC PRIVATE KEY", " ")
	azureConn := "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + fakeAzureStorageKey + ";EndpointSuffix=core.windows.net"
	serviceBus := "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + fakeAzureSASKey
	return []sample{
		{"AWS access key ID", "AWS access key ID", fakeAWSAccessKeyID, fakeAWSAccessKeyID},
		{"AWS temporary access key ID in a flag", "AWS access key ID", "--access-key=ASIA2IWY2SQ5LTXI5P4Y", "ASIA2IWY2SQ5LTXI5P4Y"},
		{"AWS access key ID in a URL", "AWS access key ID", "s3://" + fakeAWSAccessKeyID + ":x@bucket/path", fakeAWSAccessKeyID},
		{"AWS secret key after its variable", "AWS secret access key", "AWS_SECRET_ACCESS_KEY=" + fakeAWSSecretKey, fakeAWSSecretKey},
		{"AWS secret key in a credentials file", "AWS secret access key", "[default]\naws_secret_access_key = " + fakeAWSSecretKey + "\n", fakeAWSSecretKey},
		{"AWS secret key in STS JSON", "AWS secret access key", `{"SecretAccessKey": "` + fakeAWSSecretKey + `"}`, fakeAWSSecretKey},
		{"PKCS #8 key", "private key", pkcs8, pkcs8},
		{"RSA key after text", "private key", "key: " + rsa, rsa},
		{"GCP service-account key file", "private key", gcpJSON, gcpKey},
		{"encrypted legacy PEM key", "private key", encrypted, encrypted},
		{"OpenSSH key", "private key", openssh, openssh},
		{"PGP private key block", "private key", pgp, pgp},
		{"key on one line", "private key", oneLine, oneLine},
		{"age identity", "age secret key", fakeAgeKey, fakeAgeKey},
		{"Google API key in a query", "Google API key", "https://maps.googleapis.com/maps/api/geocode/json?key=" + fakeGoogleAPIKey, fakeGoogleAPIKey},
		{"Azure storage connection string", "Azure storage account key", azureConn, fakeAzureStorageKey},
		{"Azure Service Bus connection string", "Azure shared access key", serviceBus, fakeAzureSASKey},
		{"GitHub personal access token", "GitHub token", fakeGitHubPAT, fakeGitHubPAT},
		{"GitHub app token in a clone URL", "GitHub token", "https://x-access-token:" + fakeGitHubAppToken + "@github.com/acme/app.git", fakeGitHubAppToken},
		{"GitHub fine-grained token", "GitHub fine-grained personal access token", "--token=" + fakeGitHubFineGrain, fakeGitHubFineGrain},
		{"GitLab token", "GitLab token", fakeGitLabPAT, fakeGitLabPAT},
		{"GitLab token with an instance prefix", "GitLab token", "SIE-" + fakeGitLabPAT, fakeGitLabPAT},
		{"Slack bot token", "Slack token", "Bearer " + fakeSlackBotToken, fakeSlackBotToken},
		{"Slack webhook", "Slack webhook URL", fakeSlackWebhook, fakeSlackWebhook},
		{"Stripe live key", "Stripe live API key", fakeStripeKey, fakeStripeKey},
		{"npm token in .npmrc", "npm access token", "//registry.npmjs.org/:_authToken=" + fakeNPMToken, fakeNPMToken},
		{"PyPI token", "PyPI API token", "TWINE_PASSWORD=" + fakePyPIToken, fakePyPIToken},
		{"OpenAI key", "OpenAI API key", fakeOpenAIKey, fakeOpenAIKey},
		{"SendGrid key", "SendGrid API key", fakeSendGridKey, fakeSendGridKey},
		{"Vault token", "HashiCorp Vault token", "VAULT_TOKEN=" + fakeVaultToken, fakeVaultToken},
		{"DigitalOcean token", "DigitalOcean token", fakeDigitalOcean, fakeDigitalOcean},
		{"JWT", "JSON Web Token", fakeJWT, fakeJWT},
		{"JWT in an Authorization header", "JSON Web Token", "Authorization: Bearer " + fakeJWT, fakeJWT},
	}
}

// negatives are ordinary configuration values that must not be taken for secrets.
var negatives = []string{
	"",
	"https://example.com/path?query=1&page=2",
	"postgres://db.example.com:5432/app?sslmode=require",
	"550e8400-e29b-41d4-a716-446655440000",
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"registry.example.com/acme/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
	"GIT_COMMIT=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
	// 40 hex digits after the AWS variable: a digest, not a key.
	"AWS_SECRET_ACCESS_KEY=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
	"AWS_SECRET_ACCESS_KEY_FILE=/var/run/secrets/aws/secret-access-key",
	"AWS_SECRET_NAME=prod/app/database-credentials",
	"AWS_REGION=eu-west-1",
	"dGhpcyBpcyBhIGNvbmZpZyBmaWxlIHdpdGggc29tZSBzZXR0aW5ncyBpbiBpdA==",
	"CONFIG=eyJsb2dMZXZlbCI6ImRlYnVnIiwicG9ydCI6ODA4MH0=",
	// Three base64url segments beginning eyJ whose header has no "alg".
	"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.1ISw1rQIcduL4QDtukkw",
	"${DATABASE_PASSWORD}",
	"$(POD_NAME)",
	"$(SECRET_TOKEN)",
	"status.podIP",
	"metadata.namespace",
	"limits.memory",
	"requests.cpu",
	"-Xmx512m -XX:+UseG1GC -Dspring.profiles.active=prod",
	"--secret-file=/var/run/secrets/kubernetes.io/serviceaccount/token",
	"grep -q -- '-----BEGIN PRIVATE KEY-----' /etc/tls/tls.key",
	"-----BEGIN CERTIFICATE-----\n" + strings.Join(pemLines, "\n") + "\n-----END CERTIFICATE-----",
	"-----BEGIN PUBLIC KEY-----\n" + strings.Join(pemLines, "\n") + "\n-----END PUBLIC KEY-----",
	"SharedAccessKeyName=RootManageSharedAccessKey",
	// A prefix inside a longer run of its own characters is not a token.
	"AKIAC36AN57RKC7UEPXCQQQ",
	"xAIzaRH62QtEPez9doL3FLlfnKu9sUZySxky2AmN",
	"ghp_tooShort",
	"npm_config_registry=https://registry.npmjs.org/",
	"sk-learn==1.5.0",
	"sk_test_ZDBtlViWOzISImR8VpUj1yn3",
	"hugs-and-xoxo-2-u",
	"gcr.io/google-containers/pause:3.9",
	"app.kubernetes.io/name=frontend",
}
