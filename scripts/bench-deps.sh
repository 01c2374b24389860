#!/usr/bin/env bash
# bench-deps.sh installs the peers the benchmark harness compares Outrider
# with: HAProxy and nginx, from Debian's packages. Idempotent; quiet when
# both are there. Needs root (apt-get); without it, says what is missing and
# the harness leaves those peers out of its tables.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }

need=()
have haproxy || need+=(haproxy)
have nginx || need+=(nginx-light libnginx-mod-stream)

((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "bench-deps: missing ${need[*]} (not root or no apt-get: those peers are skipped)" >&2
	exit 0
fi
echo "bench-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start system services; the harness runs its own instances.
for svc in haproxy nginx; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
		systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
done
