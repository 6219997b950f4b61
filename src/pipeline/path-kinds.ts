/**
 * What a changed file is, judged by its name only: the kinds the decide stage and the triage prompt
 * care about. Documentation has its own module (doc-paths.ts); these are the others.
 */

/**
 * Files whose change decides whether the project still builds or its checks still pass: manifests,
 * build scripts, CI workflows, compiler/linter/formatter settings, and the tests themselves. When a
 * look cannot list every changed path, these are listed first: they are what a check, or an agent
 * preparing a repair, would be about.
 */
const BUILD_FILE =
  /(^|\/)(package\.json|tsconfig[^/]*\.json|Cargo\.toml|build\.rs|Makefile|CMakeLists\.txt|Dockerfile|go\.mod|pyproject\.toml|setup\.(py|cfg)|tox\.ini|\.eslintrc[^/]*|eslint\.config\.[cm]?[jt]s|\.prettierrc[^/]*|(vite|vitest|jest|esbuild|webpack|rollup)\.config\.[cm]?[jt]s|rust-toolchain(\.toml)?|clippy\.toml|rustfmt\.toml|deny\.toml|build\.gradle(\.kts)?|pom\.xml)$|(^|\/)\.github\/workflows\/|(^|\/)\.cargo\/config/;
const TEST_FILE = /(^|\/)(tests?|__tests__|spec|e2e|integration-tests|testdata|fixtures)\/|\.(test|spec)\.[cm]?[jt]sx?$|_test\.(go|rs|py)$|(^|\/)test_[^/]*\.py$/;

/** Manifests, build scripts, CI workflows, compiler/linter/formatter settings. */
export function isBuildFile(path: string): boolean {
  return BUILD_FILE.test(path);
}

/** Tests, their fixtures and snapshots (by folder or name). */
export function isTestFile(path: string): boolean {
  return TEST_FILE.test(path);
}

export function isCheckFile(path: string): boolean {
  return isBuildFile(path) || isTestFile(path);
}

/**
 * Lock files: written by a package manager from a manifest, never by hand. Alone (no manifest, no
 * code) they are a dependency refresh whose effect the next build shows; there is nothing in them
 * for an agent to read or repair that the manifest change beside them would not say better.
 */
const LOCK_FILE =
  /(^|\/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lockb?|Cargo\.lock|go\.sum|poetry\.lock|Pipfile\.lock|uv\.lock|composer\.lock|Gemfile\.lock|flake\.lock|mix\.lock|pubspec\.lock|packages\.lock\.json)$/;

export function isLockFile(path: string): boolean {
  return LOCK_FILE.test(path);
}
