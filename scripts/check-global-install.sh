#!/usr/bin/env bash
# Kairos installed as users install it, end to end: `npm pack` (prepare builds dist/), `npm install -g`
# of the tarball into a temporary prefix (dependencies from the registry, better-sqlite3 compiled or
# fetched), then the `kairos` on PATH, run from an unrelated folder: --version, doctor, and
# start / status / stop on a fresh repository. Slow (minutes: a native build), so CI runs it once
# (.ci/run); test/cli/packaging.test.ts checks the tarball itself within the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/kairos-global.XXXXXX")
prefix="$work/prefix"
export KAIROS_HOME="$work/home" KAIROS_NOTIFY=off
cleanup() {
  if [ -x "$prefix/bin/kairos" ]; then "$prefix/bin/kairos" stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf 'check-global-install: %s\n' "$*"; }

step "npm pack"
npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/kairos-*.tgz)

step "npm install -g --prefix $prefix $(basename "$tarball")"
# better-sqlite3 is the one install script Kairos needs (a prebuilt binary, or a compile).
npm install -g --prefix "$prefix" --allow-scripts=better-sqlite3 --no-audit --no-fund "$tarball"

export PATH="$prefix/bin:$PATH"
cd "$work"
[ "$(command -v kairos)" = "$prefix/bin/kairos" ] || { echo "check-global-install: kairos on PATH is $(command -v kairos), not the installed one" >&2; exit 1; }

step "kairos --version"
kairos --version

step "kairos doctor"
kairos doctor || true # warnings (no display, no API key) are expected here; the checks that matter follow
kairos doctor --json | node -e '
  const checks = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const bad = checks.filter((c) => ["node", "sqlite", "git", "shell-grammar"].includes(c.name) && c.status !== "ok");
  if (bad.length) { console.error("check-global-install: doctor:", JSON.stringify(bad)); process.exit(1); }'

step "start / status / stop on a fresh repository"
git init -q "$work/repo"
git -C "$work/repo" -c user.name=ci -c user.email=ci@kairos.invalid commit -q --allow-empty -m init
kairos start --repo "$work/repo"
kairos status
kairos status --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (!s.repos.some((r) => r.path.endsWith("/repo"))) { console.error("check-global-install: status does not list the repository"); process.exit(1); }'
kairos stop

step "ok"
