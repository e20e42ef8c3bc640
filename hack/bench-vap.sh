#!/usr/bin/env bash
# bench-vap.sh measures what the generated ValidatingAdmissionPolicies cost the API server: the CEL
# cost units each example policy and the largest policy are charged on a pod of 10 containers,
# against the per-call limit and the per-request budget, computed with the API server's own
# validator (pkg/vap TestCELCostWithinLimits). `make bench-vap` runs it and writes the
# "vap-cost" region of docs/performance.md. The latency of the VAP through a real API server is in
# the "Side by side" region (make bench-e2e).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${OUT:-docs/performance.md}"
table="$(mktemp)"
region="$(mktemp)"
trap 'rm -f "$table" "$region"' EXIT

echo "bench-vap.sh: charging the generated policies with the API server's CEL validator" >&2
SEALGATE_VAP_COST="$table" go test -count=1 -run '^TestCELCostWithinLimits$' ./pkg/vap/ >&2

begin='<!-- vap-cost:begin -->'
end='<!-- vap-cost:end -->'
{
	echo "$begin"
	echo
	echo "Measured $(date -u '+%Y-%m-%d') on commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown) with k8s.io/apiserver $(go list -m -f '{{.Version}}' k8s.io/apiserver)."
	echo "CEL cost units are deterministic: they do not depend on the machine. Rerun: \`make bench-vap\`."
	echo
	cat "$table"
	echo
	echo "$end"
} >"$region"

if grep -qF "$begin" "$OUT" && grep -qF "$end" "$OUT"; then
	awk -v begin="$begin" -v end="$end" -v file="$region" '
		$0 == begin { while ((getline line < file) > 0) print line; skip = 1; next }
		$0 == end { skip = 0; next }
		!skip { print }' "$OUT" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
else
	printf '\n## ValidatingAdmissionPolicy cost (make bench-vap)\n\n' >>"$OUT"
	cat "$region" >>"$OUT"
fi
echo "bench-vap.sh: wrote ${OUT}" >&2
