#!/usr/bin/env bash
# Builds the pinned Pulumi engine from its Go modules, or reuses an earlier build, and prints the folder
# holding it as the LAST line of stdout (everything else goes to stderr):
#   pulumi                            the CLI (module github.com/pulumi/pulumi/pkg/v3), version-stamped
#   pulumi-language-python            our Python language host (cmd/pulumi-language-python: why ours)
#   pulumi-language-python-exec       the SDK's program runner, next to the host
#   pulumi-resource-pulumi-python     the dynamic-provider plugin, on PATH for the engine: our wrapper
#                                     (cmd/pulumi-resource-pulumi-python) that stops it when the engine dies,
#                                     or takes over the host's warm provider python (internal/warm)
#   sdk/pulumi-resource-pulumi-python the SDK's own launcher of that plugin, which the wrapper runs
# Cache: ${KIMI_INFRA_ENGINE_CACHE:-~/.cache/kimi-infra}/pulumi-<version>/bin, never inside the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { sub(/^v/, "", $2); print $2 }' go.mod)
[ -n "$version" ] || { echo "engine/build.sh: no pinned github.com/pulumi/pulumi/pkg/v3 in engine/go.mod" >&2; exit 1; }
# The engine half of the pair pulumi-pair.env names; the exec script comes from sdk/v3, so it moves too.
# shellcheck source=pulumi-pair.env
. ./pulumi-pair.env
sdk_module=$(awk '$1 == "github.com/pulumi/pulumi/sdk/v3" { sub(/^v/, "", $2); print $2 }' go.mod)
if [ "$version" != "$PULUMI_ENGINE_VERSION" ] || [ "$sdk_module" != "$PULUMI_ENGINE_VERSION" ]; then
    echo "engine/build.sh: engine/go.mod pins pkg/v3 v$version and sdk/v3 v$sdk_module, but engine/pulumi-pair.env" \
         "names engine $PULUMI_ENGINE_VERSION: move them together (README \"The engine/SDK pair\")" >&2
    exit 1
fi
cache=${KIMI_INFRA_ENGINE_CACHE:-$HOME/.cache/kimi-infra}
bin="$cache/pulumi-$version/bin"
# A build is reused only if it was made from these exact sources (go.mod, go.sum, this script, the pair, every Go file).
stamp=$(find cmd internal -name '*.go' | LC_ALL=C sort | xargs cat go.mod go.sum build.sh pulumi-pair.env \
    | sha256sum | cut -c1-16)

if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp" ]; then
    echo "engine: reusing Pulumi $version in $bin" >&2
    echo "$bin"
    exit 0
fi

command -v go >/dev/null || { echo "engine/build.sh: Go is not installed (need Go >= 1.26 and the Go module proxy)" >&2; exit 1; }
echo "engine: building Pulumi $version from Go modules (first time: ~5 min on 2 cores)" >&2
start=$(date +%s)
mkdir -p "$cache"
# Build into a fresh folder, then swap it in: two builds at once, or one killed half-way, never leave
# a half-made bin/ that the stamp check would take for a good one.
work=$(mktemp -d "$cache/.pulumi-$version.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
go build -trimpath -o "$work/pulumi" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
go build -trimpath -o "$work/pulumi-language-python" -ldflags "-X main.version=$version" ./cmd/pulumi-language-python
go build -trimpath -o "$work/pulumi-resource-pulumi-python" ./cmd/pulumi-resource-pulumi-python
sdk=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$work/pulumi-language-python-exec"
install -D -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$work/sdk/pulumi-resource-pulumi-python"
"$work/pulumi" version >/dev/null
echo "$stamp" > "$work/.stamp"
chmod 0755 "$work"
mkdir -p "$(dirname "$bin")"
rm -rf "$bin.old"
[ -d "$bin" ] && mv "$bin" "$bin.old"
mv "$work" "$bin"
rm -rf "$bin.old"
trap - EXIT
echo "engine: built Pulumi $version in $(( $(date +%s) - start )) s" >&2
echo "$bin"
