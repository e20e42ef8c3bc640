// Package secretstest holds one credential of every format pkg/secrets finds, for the tests of
// everything that reports findings: they put the samples in pods and grep every output for them.
// Each sample has the format of a real credential and was generated at random: none was ever
// issued by a provider.
package secretstest

import "strings"

// Sample is a credential as an env var would hold it.
type Sample struct {
	// Kind is what secrets.Find reports for Name=Value.
	Kind string
	// Name is the variable's name; some formats need it as context (AWS_SECRET_ACCESS_KEY).
	Name string
	// Value is the variable's value.
	Value string
	// Secret is the part of Value that must never be printed: Value without the structure around
	// the key material (a PEM block's BEGIN and END lines, a webhook URL's host), so that a test
	// can require that no 8 bytes of it appear in an output.
	Secret string
}

var pemBody = "6X4Yvlw4UA2jTunnvQH3g0gcvr+2XA0hkvvg3QdFOlqJBJtMi+3irmHtqLaLotLe\n" +
	"ZJ/rcthRuQHq26kgS/f1MFr1WPSg0IDk/0hqsu4YcyQ5YYlUrK1MP5avb/UFzxA6"

// Samples has one sample of every built-in kind; a test of pkg/secrets holds it to the table.
var Samples = []Sample{
	{Kind: "AWS access key ID", Name: "AWS_ACCESS_KEY_ID", Value: "AKIAC36AN57RKC7UEPXC"},
	{Kind: "AWS secret access key", Name: "AWS_SECRET_ACCESS_KEY", Value: "faEryMUEO538iPuC0Eee+MjktXVtom4vyS315FJs"},
	{Kind: "private key", Name: "TLS_KEY", Secret: pemBody,
		Value: "-----BEGIN PRIVATE KEY-----\n" + pemBody + "\n-----END PRIVATE KEY-----\n"},
	{Kind: "age secret key", Name: "AGE_IDENTITY", Value: "AGE-SECRET-KEY-1T83AN2TT7K5MWQZ4509SUE2CL037LY2LAEG6KCL2UX6ZQUYRK9FXALGAMU"},
	{Kind: "Google API key", Name: "MAPS_API_KEY", Value: "AIzaRH62QtEPez9doL3FLlfnKu9sUZySxky2AmN"},
	{Kind: "Azure storage account key", Name: "STORAGE_CONNECTION_STRING",
		Secret: "725AIUoaA20Wzi2lhSGU62yK7L/HZ4RSJ9599kUZv1iNcPPjYVKxEvNmgCj1y4cYzRyPggeUYPvupSvdSlY4Sh==",
		Value: "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" +
			"725AIUoaA20Wzi2lhSGU62yK7L/HZ4RSJ9599kUZv1iNcPPjYVKxEvNmgCj1y4cYzRyPggeUYPvupSvdSlY4Sh==;EndpointSuffix=core.windows.net"},
	{Kind: "Azure shared access key", Name: "SERVICEBUS_CONNECTION_STRING", Secret: "s4854wT2R6Xym3tfxy2UWggvNCgwmUxMfY2jSy+uvZ7=",
		Value: "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=s4854wT2R6Xym3tfxy2UWggvNCgwmUxMfY2jSy+uvZ7="},
	{Kind: "GitHub token", Name: "GITHUB_TOKEN", Value: "ghp_8Xv4cl14lLTAjGP4Szgz90hpgBUOtUsIP25g"},
	{Kind: "GitHub fine-grained personal access token", Name: "GH_PAT",
		Value: "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"},
	{Kind: "GitLab token", Name: "GITLAB_TOKEN", Value: "glpat-HGwl6btJkNsnpKQaH2sh"},
	{Kind: "Slack token", Name: "SLACK_BOT_TOKEN", Value: "xoxb-090380324620-5817477220692-CQ5S00XlvGQEjcFLykESrnFH"},
	{Kind: "Slack webhook URL", Name: "SLACK_WEBHOOK", Secret: "TW9YJUUID/B3DV77DYF/6SUcica7xBoQE1K6QU7fge9x",
		Value: "https://hooks.slack.com/services/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"},
	{Kind: "Stripe live API key", Name: "STRIPE_KEY", Value: "sk_live_ZDBtlViWOzISImR8VpUj1yn3"},
	{Kind: "npm access token", Name: "NPM_TOKEN", Value: "npm_GMFR10QyY9meIUVj2MLIieQzDf28n8aDlQkx"},
	{Kind: "PyPI API token", Name: "TWINE_PASSWORD",
		Value: "pypi-AgEIcHlwaS5vcmcXAFQMHth_1TRaPLg0K6vo12lp7ujWkaH9k1o09CYc46-1Mt5vD8-7ZM5cV7M"},
	{Kind: "OpenAI API key", Name: "OPENAI_API_KEY", Value: "sk-proj-xECVudehv1Nvzdv7OfFeT3BlbkFJcs_6Tc1THctGfsEo8LSO"},
	{Kind: "SendGrid API key", Name: "SENDGRID_API_KEY", Value: "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"},
	{Kind: "HashiCorp Vault token", Name: "VAULT_TOKEN",
		Value: "hvs.FWZ7n1lFhniIFJRKVrSqjb5pZcur0E87ivkRIth4fge40NULr7QTiHLSnGWO72ZvJotva4U3IuOyqggvthLT7UNGjz"},
	{Kind: "DigitalOcean token", Name: "DIGITALOCEAN_TOKEN", Value: "dop_v1_b227e7891dae1baff9f0b8f57cda83a3238d755095a635a0af6e1f409534f991"},
	{Kind: "JSON Web Token", Name: "ID_TOKEN",
		Value: "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UiLCJ0eXAiOiJKV1QifQ." +
			"eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIuZXhhbXBsZSIsICJzdWIiOiAic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6ZmFrZSIsICJleHAiOiAxNzAwMDAwMDAwfQ." +
			"XvsWb930cdvJZy9WERCUebsbqAIFj_0h5VaBwASdLt_Xlq8jMx-8Lh9LfUikT2eovqfD1gjMf0VQLXGXba7DiW"},
}

func init() {
	for i := range Samples {
		if Samples[i].Secret == "" {
			Samples[i].Secret = Samples[i].Value
		}
	}
}

// Leaks returns what of s appears in out: s whole, or its first n-byte substring found there, or ""
// when out holds none of it.
func Leaks(out, s string, n int) string {
	if strings.Contains(out, s) {
		return s
	}
	for i := 0; i+n <= len(s); i++ {
		if strings.Contains(out, s[i:i+n]) {
			return s[i : i+n]
		}
	}
	return ""
}
