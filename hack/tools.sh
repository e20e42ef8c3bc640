#!/usr/bin/env bash
# hack/tools.sh — build or install the external tools sealgate's build and tests use into ./bin.
#
#   hack/tools.sh <tool>...   install the named tools into ./bin
#   hack/tools.sh all         install every tool
#   hack/tools.sh versions    print the pinned versions
#
# Every tool is built from its Go module (the Go module proxy is the only download source we rely on)
# or taken from a Debian package. Builds are cached per name and version in
#   ${SEALGATE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealgate/tools}/<name>-<version>/<name>
# and hard-linked (or copied) into ./bin/<name>; ./bin/.stamps/<name> records the version installed, so a
# binary at the wrong version is replaced and a fully cached run takes well under a second per tool.
# To force a rebuild, delete the tool's cache directory.
#
# envtest (controller-runtime) uses KUBEBUILDER_ASSETS=./bin, which needs etcd, kube-apiserver and kubectl.
#
# Adding a tool: add a version variable below and one line to TOOLS.
set -euo pipefail

# ---- pinned versions (the only place to change them) ------------------------------------------------
CONTROLLER_TOOLS_VERSION=v0.23.0   # sigs.k8s.io/controller-tools
KUBE_VERSION=v1.37.2               # k8s.io/kubernetes; must match hack/tools/kube/go.mod
HELM_VERSION=v3.22.0               # helm.sh/helm/v3
COSIGN_VERSION=v3.1.3              # github.com/sigstore/cosign/v3
CRANE_VERSION=v0.22.1              # github.com/google/go-containerregistry
ETCD_DEB_PACKAGE=etcd-server       # Debian package providing /usr/bin/etcd (3.4 in bookworm)
PSA_VERSION=v0.37.2                # k8s.io/pod-security-admission (a peer of `make bench-e2e` only)

# ---- tool table ---------------------------------------------------------------------------------------
# name|version|kind|source|extra go ldflags
#   go    source is a main package path; built like `go install <source>@<version>`
#   kube  source is a main package in k8s.io/kubernetes, built in the hack/tools/kube module
#   deb   source is "<package>:<path of the binary>"; version is informational ("debian")
TOOLS=(
  "controller-gen|$CONTROLLER_TOOLS_VERSION|go|sigs.k8s.io/controller-tools/cmd/controller-gen|"
  "kube-apiserver|$KUBE_VERSION|kube|k8s.io/kubernetes/cmd/kube-apiserver|"
  "kubectl|$KUBE_VERSION|kube|k8s.io/kubernetes/cmd/kubectl|"
  "etcd|debian|deb|$ETCD_DEB_PACKAGE:/usr/bin/etcd|"
  "helm|$HELM_VERSION|go|helm.sh/helm/v3/cmd/helm|-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  "cosign|$COSIGN_VERSION|go|github.com/sigstore/cosign/v3/cmd/cosign|"
  "crane|$CRANE_VERSION|go|github.com/google/go-containerregistry/cmd/crane|"
  # The upstream Pod Security Admission webhook, a peer in `make bench-e2e` (not used by any test tier).
  # Its go.mod has no replace directives, so `go install` works; the binary is named after its
  # directory (webhook), and installed as pod-security-webhook.
  "pod-security-webhook|$PSA_VERSION|go|k8s.io/pod-security-admission/cmd/webhook|"
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
CACHE=${SEALGATE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealgate/tools}
KUBE_MODULE_DIR=$ROOT/hack/tools/kube

die() { echo "tools.sh: error: $*" >&2; exit 1; }
say() { echo "$*"; }

usage() {
  cat <<EOF
usage: hack/tools.sh <tool>... | all | versions
tools: $(tool_names)
installs into $BIN, caches builds in $CACHE (override: SEALGATE_TOOLS_CACHE)
EOF
}

tool_names() {
  local t names=()
  for t in "${TOOLS[@]}"; do names+=("${t%%|*}"); done
  echo "${names[*]}"
}

# lookup <name>: sets T_NAME T_VERSION T_KIND T_SOURCE T_LDFLAGS, or fails.
lookup() {
  local t
  for t in "${TOOLS[@]}"; do
    if [[ ${t%%|*} == "$1" ]]; then
      IFS='|' read -r T_NAME T_VERSION T_KIND T_SOURCE T_LDFLAGS <<<"$t"
      return 0
    fi
  done
  die "unknown tool '$1' (known: $(tool_names))"
}

versions() {
  local t name version kind source ldflags
  printf '%-22s %-10s %s\n' TOOL VERSION SOURCE
  for t in "${TOOLS[@]}"; do
    IFS='|' read -r name version kind source ldflags <<<"$t"
    case $kind in
      go)   printf '%-22s %-10s %s\n' "$name" "$version" "go install $source@$version" ;;
      kube) printf '%-22s %-10s %s\n' "$name" "$version" "$source (module hack/tools/kube)" ;;
      deb)  printf '%-22s %-10s %s\n' "$name" "$version" "Debian package ${source%%:*} (${source#*:})" ;;
    esac
  done
}

need_go() {
  command -v go >/dev/null 2>&1 || die "go is not in PATH (needed to build $T_NAME)"
}

# place <file>: put <file> at $BIN/$T_NAME (hard link, else copy) atomically, then write the stamp.
place() {
  local src=$1 dst=$BIN/$T_NAME tmp
  mkdir -p "$BIN/.stamps"
  rm -f "$BIN/.stamps/$T_NAME"
  if [[ ! $dst -ef $src ]]; then  # already the same hard link: only the stamp was stale
    tmp=$(mktemp "$BIN/.$T_NAME.XXXXXX")
    rm -f "$tmp"
    ln "$src" "$tmp" 2>/dev/null || cp "$src" "$tmp"
    mv -f "$tmp" "$dst"
  fi
  echo "$T_VERSION" >"$BIN/.stamps/$T_NAME"
}

# build_into <dir>: build the tool into <dir>/$T_NAME.
build_into() {
  local out=$1 ldflags="-s -w ${T_LDFLAGS}"
  case $T_KIND in
    go)
      # Like `go install pkg@version`, outside any module context; GOBIN is the scratch dir.
      (cd "$out" && GOWORK=off GOBIN="$out" go install -trimpath -ldflags="$ldflags" "$T_SOURCE@$T_VERSION")
      # go install names the binary after the package's directory; the table's name is the one in ./bin.
      local built=${T_SOURCE##*/}
      if [[ $built != "$T_NAME" && -x $out/$built ]]; then mv -f "$out/$built" "$out/$T_NAME"; fi
      ;;
    kube)
      local want
      [[ -f $KUBE_MODULE_DIR/go.mod ]] || die "$KUBE_MODULE_DIR/go.mod is missing (the tools module $T_NAME is built in)"
      want=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" {print $2}' \
        "$KUBE_MODULE_DIR/go.mod" | head -n1)
      [[ $want == "$KUBE_VERSION" ]] ||
        die "hack/tools/kube/go.mod requires k8s.io/kubernetes ${want:-?} but KUBE_VERSION=$KUBE_VERSION; update it (and its staging replaces) and run go mod tidy there"
      local major=${KUBE_VERSION#v}; major=${major%%.*}
      local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
      ldflags+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
      ldflags+=" -X k8s.io/component-base/version.gitMajor=$major"
      ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
      ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
      ldflags+=" -X k8s.io/component-base/version.gitCommit="  # unknown from the module zip; "" beats "$Format:%H$"
      (cd "$KUBE_MODULE_DIR" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" \
        -o "$out/$T_NAME" "$T_SOURCE")
      ;;
  esac
}

install_go_tool() {
  local cached=$CACHE/$T_NAME-$T_VERSION/$T_NAME
  if [[ -x $BIN/$T_NAME && -f $BIN/.stamps/$T_NAME && $(<"$BIN/.stamps/$T_NAME") == "$T_VERSION" ]]; then
    say "$T_NAME $T_VERSION: up to date"
    return 0
  fi
  if [[ ! -x $cached ]]; then
    need_go
    local note=""
    [[ $T_KIND == kube ]] && note=" from k8s.io/kubernetes (the first build takes 5-10 min on 2 cores)"
    say "$T_NAME $T_VERSION: building$note..."
    mkdir -p "$CACHE"
    local scratch start=$SECONDS
    scratch=$(mktemp -d "$CACHE/.build-$T_NAME.XXXXXX")
    # shellcheck disable=SC2064 # expand now: scratch is local
    trap "rm -rf '$scratch'" EXIT
    if ! build_into "$scratch"; then
      die "building $T_NAME $T_VERSION failed (see the go output above)"
    fi
    [[ -x $scratch/$T_NAME ]] || die "building $T_NAME $T_VERSION produced no binary"
    mkdir -p "${cached%/*}"
    mv -f "$scratch/$T_NAME" "$cached"
    rm -rf "$scratch"
    trap - EXIT
    place "$cached"
    say "$T_NAME $T_VERSION: built in $((SECONDS - start))s, installed to bin/$T_NAME"
  else
    place "$cached"
    say "$T_NAME $T_VERSION: installed to bin/$T_NAME from cache"
  fi
}

install_deb_tool() {
  local pkg=${T_SOURCE%%:*} path=${T_SOURCE#*:}
  if [[ ! -x $path ]]; then
    command -v apt-get >/dev/null 2>&1 ||
      die "$T_NAME: $path not found and apt-get is not available; install the Debian package '$pkg' (or put an etcd 3.4+ binary at $BIN/$T_NAME)"
    [[ $(id -u) == 0 ]] ||
      die "$T_NAME: $path not found; install the Debian package '$pkg': sudo apt-get install -y $pkg"
    say "$T_NAME: installing Debian package $pkg..."
    local log
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >"$log" 2>&1; then
      say "$T_NAME: apt-get install failed; running apt-get update and retrying..."
      if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$log"
        die "$T_NAME: could not install Debian package '$pkg' (apt-get output above)"
      fi
    fi
    rm -f "$log"
    [[ -x $path ]] || die "$T_NAME: package '$pkg' is installed but $path is missing"
  fi
  local ver
  ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo unknown)
  if [[ -L $BIN/$T_NAME && $(readlink "$BIN/$T_NAME") == "$path" ]]; then
    say "$T_NAME $ver: up to date ($path, Debian $pkg)"
    return 0
  fi
  mkdir -p "$BIN"
  ln -sfn "$path" "$BIN/$T_NAME"
  say "$T_NAME $ver: linked bin/$T_NAME -> $path (Debian $pkg)"
}

install_tool() {
  lookup "$1"
  case $T_KIND in
    go | kube) install_go_tool ;;
    deb) install_deb_tool ;;
    *) die "tool table: bad kind '$T_KIND' for $T_NAME" ;;
  esac
}

main() {
  [[ $# -gt 0 ]] || { usage >&2; exit 2; }
  local args=() a
  for a in "$@"; do
    case $a in
      -h | --help | help) usage; exit 0 ;;
      versions) versions; exit 0 ;;
      all) read -r -a names <<<"$(tool_names)"; args+=("${names[@]}") ;;
      *) lookup "$a"; args+=("$a") ;;  # validate every name before building anything
    esac
  done
  for a in "${args[@]}"; do
    install_tool "$a"
  done
}

main "$@"
