#!/usr/bin/env bash
# Installs the pinned OpenCode CLI (npm package opencode-ai) into .harnesses/opencode, a
# git-ignored folder of this checkout, and links its platform binary as
# .harnesses/opencode/bin/opencode (what drift_gym runs, inside the episode's sandbox).
# Idempotent: an install of the right version is left as it is. Needs npm (Node.js).
set -euo pipefail
VERSION=1.18.33
cd "$(dirname "$0")/.."
dest=.harnesses/opencode
link="$dest/bin/opencode"
if [ -x "$link" ] && [ "$("$link" --version 2>/dev/null)" = "$VERSION" ]; then
  echo "opencode $VERSION already installed: $link"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is missing; install Node.js and npm (apt-get install nodejs npm), then run this again" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest/bin"
# the platform binary comes as an optional dependency; its postinstall warning is harmless
npm install --prefix "$dest" --no-save --no-audit --no-fund --loglevel=error \
  "opencode-ai@$VERSION" >/dev/null
# the optimised build first, then the baseline (pre-AVX2) and musl ones
arch=$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
for candidate in "$dest/node_modules/opencode-linux-$arch/bin/opencode" \
    "$dest"/node_modules/opencode-linux-"$arch"-*/bin/opencode; do
  if [ -x "$candidate" ] && [ "$("$candidate" --version 2>/dev/null)" = "$VERSION" ]; then
    ln -sf "../${candidate#"$dest"/}" "$link"
    echo "opencode $VERSION installed: $link"
    exit 0
  fi
done
echo "error: npm installed opencode-ai@$VERSION but no platform binary of it runs here ($(uname -sm))" >&2
exit 1
