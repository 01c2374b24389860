#!/usr/bin/env bash
# deps.sh installs what the test suite needs. Idempotent; quiet when all is there.
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }

# Packages the namespace and benchmark tests use.
have iptables || need_pkgs+=(iptables)
have nft || need_pkgs+=(nftables)
have ip || need_pkgs+=(iproute2)

if ((${#need_pkgs[@]})); then
	if [[ $(id -u) -eq 0 ]] && have apt-get; then
		echo "deps: installing ${need_pkgs[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
	else
		echo "deps: missing ${need_pkgs[*]} (not root: tests that need them will skip)" >&2
	fi
fi
[[ $(id -u) -ne 0 && -x "${KUBE_BINS_DIR:-${HOME:-/root}/.cache/outrider/kube-bins}/kube-apiserver" ]] || "$(dirname "$0")/kube-test-bins.sh" >/dev/null # kube-apiserver, etcd, kube-controller-manager for the injection tests: built once from Go modules, cached
[[ $(id -u) -ne 0 ]] || "$(dirname "$0")/bench-deps.sh" # haproxy and nginx, the peers the benchmark tests compare with
