#!/usr/bin/env bash
# Runs the suite again on the current Node LTS (Node 20 reached end of life in April 2026), in a
# copy of the checkout so the machine's own install (built for its Node) stays usable: after CI,
# `npx kairos` must still work with the machine's Node. It runs the whole suite (`npm test`, what
# CI runs); KAIROS_LTS_SCRIPT=test:unit runs only the fast part, KAIROS_LTS_NODE picks another major.
#
# Node comes from the npm registry's node-linux-<arch> package (CI reaches the registry for npm ci
# anyway). It ships its headers, so better-sqlite3 builds against it without downloading anything.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${KAIROS_LTS_NODE:-26}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "ci-node-lts: no node-linux package for $(uname -m); skipped" >&2; exit 0 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/kairos-lts.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-${arch}@${version}" >/dev/null && tar -xzf node-linux-*.tgz)
# Node itself lives outside the temp folder and outside $HOME: the service tests (rightly) treat a
# node under /tmp as one a service must not run, and the sandbox binds node's folder into every
# command, where a folder under $HOME (or /opt) would show up where the sandbox shows nothing. Under
# /usr/local when this runs as root (CI), else the user's cache. Replaced on every run (a new 26.x).
if [ -w /usr/local/lib ]; then node_root=/usr/local/lib/kairos-ci; else node_root="${XDG_CACHE_HOME:-$HOME/.cache}/kairos-ci"; fi
node_dir="$node_root/node-linux-${arch}-${version}"
rm -rf "$node_dir"
mkdir -p "$(dirname "$node_dir")"
mv "$work/package" "$node_dir"
"$node_dir/bin/node" --version

# The checkout as git has it (no node_modules, no dist), so nothing built for the other Node leaks in.
git ls-files -z | tar --null -T - -cf - | (mkdir -p "$work/src" && cd "$work/src" && tar -xf -)
cd "$work/src"
export PATH="$node_dir/bin:$PATH"
export npm_config_nodedir="$node_dir"
npm ci --no-audit --no-fund
# Arguments (test files under dist/test) narrow the run, for trying this script by hand.
npm run "${KAIROS_LTS_SCRIPT:-test}" -- "$@"
