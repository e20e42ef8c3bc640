#!/usr/bin/env bash
# hack/demo.sh — sealgate's verdicts on the example workloads under the example policies, offline,
# with the same engine the webhook uses.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=./bin/sealgate
[ -x "$bin" ] || { echo "demo: $bin is missing; run 'make build'" >&2; exit 2; }

echo "== Policies (examples/policies)"
for f in examples/policies/*.yaml; do
  printf '   %-28s %s\n' "$(basename "$f")" "$(grep -m1 '^# ' "$f" | cut -c3-)"
done
echo
echo "== sealgate check --policy examples/policies -f examples/workloads"
echo
set +e
"$bin" check --policy examples/policies -f examples/workloads
code=$?
set -e
echo
case $code in
  1) echo "demo: exit status 1 — some objects would be denied, as the examples intend." ;;
  0) echo "demo: exit status 0 — every object admitted; the examples should include denials." >&2; exit 1 ;;
  *) echo "demo: sealgate check failed (exit $code)" >&2; exit "$code" ;;
esac
