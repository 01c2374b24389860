#!/usr/bin/env bash
# h2spec.sh runs h2spec (github.com/summerwind/h2spec), an HTTP/2
# conformance suite written by others, against the proxy's h2c and
# h2-over-TLS listeners (proxy/transport/tls TestH2specConformance, which
# starts the proxy with both and a backend behind them).
#
# The h2spec binary is built once from the Go module proxy into a cache
# directory; set H2SPEC to use another one. Extra arguments go to go test
# (e.g. -args -h2spec.verbose for h2spec's whole report).
# The pass counts are recorded in docs/tls.md.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v2.2.1+incompatible
cache=${H2SPEC_DIR:-${HOME:-/root}/.cache/outrider/h2spec-${version%%+*}}
if [[ -z ${H2SPEC:-} ]]; then
	if [[ ! -x $cache/h2spec ]]; then
		echo "h2spec.sh: building h2spec ${version%%+*} into $cache"
		mkdir -p "$cache"
		GOBIN=$cache GOFLAGS=-mod=mod go install "github.com/summerwind/h2spec/cmd/h2spec@$version"
	fi
	H2SPEC=$cache/h2spec
fi
export H2SPEC
exec go test -count=1 -run TestH2specConformance -v ./proxy/transport/tls/ "$@"
