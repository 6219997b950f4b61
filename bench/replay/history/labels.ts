import type { HistoryCommit } from './commits.js';

/**
 * The labelling rule: which moments of a real history deserved an ambient "act". Nobody recorded
 * that, so the history is asked afterwards: a change deserved a look when the commits that came
 * right after it had to repair it. The rule is stated (and printed by the harness) so a reader can
 * judge the labels as well as the scores.
 *
 *   A commit C is labelled "act" when, among the next `lookahead` commits landing within `withinH`
 *   hours of C, one
 *     - reverts C ("This reverts commit <C>" / Revert "<C's subject>"), or
 *     - has a message matching /fix|revert|broken|typo|lint|test/i and changes a test or build
 *       file that C also changed (the repair touched what C touched), or
 *     - has a subject naming a follow-up repair (/clippy|lint|fmt|format|typo|oops|forgot|broken|
 *       build|compile|revert/i) and changes any file C changed (a linter, formatter or build
 *       would have caught it).
 *   Everything else is "sleep".
 */

export interface LabelRule {
  /** How many following commits may be the repair (default 5). */
  lookahead: number;
  /** How soon after C the repair must land, in hours (default 12). */
  withinH: number;
}

export const DEFAULT_LABEL_RULE: LabelRule = { lookahead: 5, withinH: 12 };

export const REPAIR_MESSAGE = /fix|revert|broken|typo|lint|test/i;

/**
 * Messages that name a follow-up repair of what was just committed (a linter, the formatter, the
 * build, a slip): such a commit repairs whatever earlier change it shares a file with, test or not.
 */
export const FOLLOW_UP_MESSAGE = /clippy|lint|\bfmt\b|format|typo|oops|forgot|broken|build|compile|revert/i;

/**
 * Test files by the conventions of the ecosystems replayed here (JS/TS, Rust, Go, Python): a
 * tests/test/__tests__/spec/e2e folder, or a *.test.* / *.spec.* / *_test.* / test_*.py name.
 */
export const TEST_FILE = /(^|\/)(tests?|__tests__|spec|e2e|integration-tests|testdata|fixtures)\/|\.(test|spec)\.[cm]?[jt]sx?$|_test\.(go|rs|py)$|(^|\/)test_[^/]*\.py$|\.snap$/;

/**
 * Build files: manifests, compiler and linter configuration, CI workflows, container and make
 * files. Lock files are left out: bots rewrite them daily, so they would label routine bumps.
 */
export const BUILD_FILE =
  /(^|\/)(package\.json|tsconfig[^/]*\.json|Cargo\.toml|build\.rs|Makefile|CMakeLists\.txt|Dockerfile|go\.mod|pyproject\.toml|setup\.py|\.eslintrc[^/]*|eslint\.config\.[cm]?[jt]s|vite(st)?\.config\.[cm]?[jt]s|esbuild\.config\.[cm]?[jt]s|rust-toolchain(\.toml)?|clippy\.toml|rustfmt\.toml|deny\.toml)$|(^|\/)\.github\/workflows\/|(^|\/)\.cargo\/config/;

export function isTestOrBuildFile(path: string): boolean {
  return TEST_FILE.test(path) || BUILD_FILE.test(path);
}

export interface Label {
  act: boolean;
  /** Why, in one line: the repairing commit and what it touched. */
  why: string;
  /** The repairing commit, for an "act". */
  repairedBy?: string | undefined;
}

function subject(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** Does `later` revert `c`? By git's own revert message, or a Revert "<subject>" subject. */
export function reverts(later: HistoryCommit, c: HistoryCommit): boolean {
  if (later.message.includes(`This reverts commit ${c.sha}`)) return true;
  const m = /^Revert "(.+)"/.exec(subject(later.message));
  return m !== null && subject(c.message).startsWith(m[1]!.replace(/\s*\(#\d+\)$/, ''));
}

/** Labels every commit of the replay (its order), looking ahead only within it. */
export function labelCommits(commits: readonly HistoryCommit[], rule: LabelRule = DEFAULT_LABEL_RULE): Map<string, Label> {
  const labels = new Map<string, Label>();
  commits.forEach((c, i) => {
    const changed = new Set(c.changes.map((f) => f.path));
    const touched = new Set([...changed].filter(isTestOrBuildFile));
    let label: Label = { act: false, why: 'no repair followed' };
    for (const later of commits.slice(i + 1, i + 1 + rule.lookahead)) {
      if (later.at - c.at > rule.withinH * 3_600_000) break;
      if (reverts(later, c)) {
        label = { act: true, why: `reverted by ${later.sha.slice(0, 10)}`, repairedBy: later.sha };
        break;
      }
      const followUp = FOLLOW_UP_MESSAGE.test(subject(later.message));
      if (!followUp && !REPAIR_MESSAGE.test(later.message)) continue;
      const shared = later.changes.map((f) => f.path).filter((p) => (followUp ? changed.has(p) : touched.has(p)));
      if (shared.length) {
        label = { act: true, why: `${later.sha.slice(0, 10)} "${subject(later.message).slice(0, 60)}" repaired ${shared.slice(0, 3).join(', ')}`, repairedBy: later.sha };
        break;
      }
    }
    labels.set(c.sha, label);
  });
  return labels;
}

/** The rule in words, for the harness's output. */
export function describeRule(rule: LabelRule): string {
  return [
    `label rule: a commit is "act" when one of the next ${rule.lookahead} commits landing within ${rule.withinH} h`,
    `  reverts it, or has a message matching ${REPAIR_MESSAGE} and changes a test or build file it changed,`,
    `  or has a subject matching ${FOLLOW_UP_MESSAGE} and changes any file it changed`,
    `  (tests: ${TEST_FILE.source}`,
    `   build: ${BUILD_FILE.source});`,
    `  everything else is "sleep". A batch is "act" when any commit its paths belong to is "act"`,
    `  (a path belongs to the latest replayed commit that changed it).`,
  ].join('\n');
}
