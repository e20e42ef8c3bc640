package engine

import "github.com/sealgate/sealgate/pkg/rules"

// The limits on what one evaluation holds and on what sealgate writes about it, all in this file so
// that docs/reliability.md has one place to point at. Each front end says in its output when a limit
// cut something, and how much: nothing is dropped silently, and an omitted violation still counts
// toward the verdict. Changing a limit is changing a constant here.

// What the rules quote of the pod: values cut at MaxQuotedValueBytes, lists shown up to
// MaxListedValues entries then "… (N more)". Defined next to the message helpers in pkg/rules.
const (
	MaxQuotedValueBytes = rules.MaxValueBytes
	MaxListedValues     = rules.MaxListedValues
)

// What the engine holds per evaluated object (Result).
const (
	// MaxViolationsPerRule is how many violations of one policy and rule ID a result lists; the rest
	// are counted in Result.Omitted. Twenty show the pattern of a rule every container breaks,
	// and bound a pod of 50,000 containers to twenty findings per rule instead of 50,000.
	MaxViolationsPerRule = 20
	// MaxViolationsPerMode is how many violations of one mode (Enforce, Warn, Audit) a result lists;
	// the rest are counted. Counted per mode, so that Audit findings never crowd out the Enforce ones
	// a denial must list.
	MaxViolationsPerMode = 100
	// MaxMessageBytes cuts a violation's message, and MaxPathBytes its field path. A message names a
	// few values of at most MaxQuotedValueBytes each, so only an escaped or unexpected value (a
	// verifier's error) comes near these.
	MaxMessageBytes = 2 << 10
	MaxPathBytes    = 512
)

// What the webhook writes per admission.
const (
	// MaxDenialViolations and MaxDenialBytes bound the denial message the API server returns to the
	// client (kubectl prints all of it, and audit logs record it): past either, the message ends with
	// "… and N more violations not shown". Fifty lines are more than anyone fixes in one go.
	MaxDenialViolations = 50
	MaxDenialBytes      = 16 << 10
	// MaxWarnings and MaxWarningRunes bound the warnings on one response. The API server keeps at most
	// 4096 runes of warning text per request, and past that cuts every warning to 256 runes
	// (k8s.io/apiserver pkg/endpoints/filters/warning.go), so sealgate stays within 4096 runes, the
	// last warning saying how many were not shown.
	MaxWarnings     = 32
	MaxWarningRunes = 4 << 10
	// MaxAuditAnnotationBytes bounds the JSON value of the audit annotation: the limit the API server
	// applies to a ValidatingAdmissionPolicy's audit annotation (k8s.io/apiserver
	// pkg/admission/plugin/policy/validating, maxAuditAnnotationValueLength). It stays a valid JSON
	// array; the count of what was cut goes in annotation admission.AuditOmittedAnnotationKey.
	MaxAuditAnnotationBytes = 10 << 10
	// MaxLogViolations and MaxLogBytes bound the violations in one "audit violations" log line, which
	// also carries the count of those not logged.
	MaxLogViolations = 20
	MaxLogBytes      = 8 << 10
)
