#!/usr/bin/env bash
# kube-test-bins.sh builds the Kubernetes binaries the injection integration tests run
# (kube-apiserver, kube-controller-manager, etcd) from Go modules into a cache directory,
# and prints that directory. Nothing is downloaded but Go modules; a warm cache returns at once.
#
# Why build rather than download: only the Go module proxy is reachable from CI. The build
# happens in a throwaway module outside the repo so Outrider's go.mod never pulls in
# k8s.io/kubernetes (which needs a replace line for every k8s.io staging module).
#
#   KUBE_VERSION   Kubernetes version to build (default 1.35.4)
#   KUBE_BINS_DIR  cache directory (default $HOME/.cache/outrider/kube-bins)
#
# The tests find the binaries through KUBEBUILDER_ASSETS, or this default directory.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.35.4}
dir=${KUBE_BINS_DIR:-${HOME:-/root}/.cache/outrider/kube-bins}
bins=(kube-apiserver kube-controller-manager etcd)
stamp="$dir/.version"

complete() {
	[[ -f $stamp && $(cat "$stamp") == "$KUBE_VERSION" ]] || return 1
	local b
	for b in "${bins[@]}"; do [[ -x $dir/$b ]] || return 1; done
}

if complete; then
	echo "$dir"
	exit 0
fi

command -v go >/dev/null || { echo "kube-test-bins: go not found on PATH" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

echo "kube-test-bins: building Kubernetes v$KUBE_VERSION test binaries into $dir (a few minutes, once)" >&2
go mod init outrider.local/kube-bins >/dev/null 2>&1

# k8s.io/kubernetes points its staging modules at ./staging; map each to its published
# v0.X.Y twin, exactly as kubernetes' own go.mod lists them.
kmod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f $kmod ]] || { echo "kube-test-bins: cannot fetch k8s.io/kubernetes@v$KUBE_VERSION" >&2; exit 1; }
staging="v0.${KUBE_VERSION#*.}"
sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod" | sort -u | while read -r m; do
	go mod edit -replace "$m=$m@$staging"
done
etcd_version=$(sed -n 's#^[[:space:]]*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$kmod" | head -1)
[[ -n $etcd_version ]] || { echo "kube-test-bins: no etcd server version in kubernetes' go.mod" >&2; exit 1; }

go get "k8s.io/kubernetes@v$KUBE_VERSION" "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1 ||
	go get "k8s.io/kubernetes@v$KUBE_VERSION" "go.etcd.io/etcd/server/v3@$etcd_version"

mkdir -p "$dir"
out="$work/bin"
mkdir -p "$out"
flags=(-trimpath -ldflags "-s -w")
go build "${flags[@]}" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build "${flags[@]}" -o "$out/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
go build "${flags[@]}" -o "$out/etcd" go.etcd.io/etcd/server/v3
# Move into place only when all built, so a half-built cache is never taken for a warm one.
for b in "${bins[@]}"; do mv -f "$out/$b" "$dir/$b"; done
echo "$KUBE_VERSION" >"$stamp"
echo "$dir"
