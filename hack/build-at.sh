#!/usr/bin/env bash
# build-at.sh REV OUT: builds bin/sealgate as it was at git revision REV into OUT, from a temporary
# worktree of this repository, for `make bench-e2e BENCH_E2E_BASELINE=REV` (before and after in one run).
set -euo pipefail
rev=${1:?usage: build-at.sh REV OUT}
out=${2:?usage: build-at.sh REV OUT}
root=$(git rev-parse --show-toplevel)
case $out in /*) ;; *) out=$PWD/$out ;; esac
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp" >/dev/null 2>&1 || rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach --quiet "$tmp" "$rev"
version=$(git -C "$root" describe --tags --always "$rev")
echo "building sealgate at $version into $out" >&2
(cd "$tmp" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/sealgate/sealgate/pkg/cli.Version=$version" -o "$out" ./cmd/sealgate)
