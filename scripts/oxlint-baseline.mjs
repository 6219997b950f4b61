#!/usr/bin/env node
// Runs oxlint (.oxlintrc.json, type-aware through oxlint-tsgolint) and fails on any finding, except the
// findings of the rules in BASELINED up to the per-file counts recorded in .oxlint-baseline.json.
// Why a baseline: no-unsafe-type-assertion found ~370 casts in src/ and daemon/ (mostly SQLite rows and
// `catch (e) { (e as Error) }`), too many to fix in one change. A count per file (as ESLint's bulk
// suppressions keep) let no file gain a cast while the existing ones were removed file by file, and
// survives edits that move lines, which a list of line numbers would not. oxlint has no baseline of its own.
// The baseline is now empty: a file not in it is allowed 0, so any cast is a finding that fails the lint.
//
//   node scripts/oxlint-baseline.mjs            lint; exit 1 on a finding the baseline does not cover
//   node scripts/oxlint-baseline.mjs --update   rewrite the baseline from today's counts (after removing casts)
//   node scripts/oxlint-baseline.mjs -- PATH…   lint these paths instead (the baseline still applies)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const BASELINED = ['typescript(no-unsafe-type-assertion)'];
const BASELINE_FILE = '.oxlint-baseline.json';
const DEFAULT_PATHS = ['bin', 'src', 'daemon', 'test', 'bench', 'scripts'];

const args = process.argv.slice(2);
const update = args.includes('--update');
const dash = args.indexOf('--');
const paths = dash >= 0 ? args.slice(dash + 1) : DEFAULT_PATHS;

const require = createRequire(import.meta.url);
const oxlintBin = join(dirname(require.resolve('oxlint/package.json')), 'bin', 'oxlint');
// oxlint looks for tsgolint under the working folder's node_modules; named here, it is found from any folder.
const tsgolint = join(dirname(require.resolve('oxlint-tsgolint/package.json')), 'bin', 'tsgolint.js');
const env = { ...process.env, OXLINT_TSGOLINT_PATH: process.env.OXLINT_TSGOLINT_PATH ?? tsgolint };
const run = spawnSync(process.execPath, [oxlintBin, '-f', 'json', ...paths], { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  // oxlint printed no JSON: its own error (a bad .oxlintrc.json, a missing tsgolint binary) is on stderr.
  process.stderr.write(`oxlint-baseline: oxlint failed (exit ${run.status}):\n${run.stderr}${run.stdout.slice(0, 4000)}\n`);
  process.exit(2);
}

/** @type {Record<string, Record<string, number>>} rule → file → count */
const found = {};
for (const d of report.diagnostics) {
  if (!BASELINED.includes(d.code)) continue;
  ((found[d.code] ??= {})[d.filename] ??= 0);
  found[d.code][d.filename]++;
}

if (update) {
  const sorted = Object.fromEntries(BASELINED.map((rule) => [rule, Object.fromEntries(Object.entries(found[rule] ?? {}).sort(([a], [b]) => a.localeCompare(b)))]));
  writeFileSync(BASELINE_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
  const total = Object.values(sorted).reduce((n, files) => n + Object.values(files).reduce((a, b) => a + b, 0), 0);
  console.log(`oxlint-baseline: wrote ${BASELINE_FILE} (${total} baselined findings)`);
}

/** @type {Record<string, Record<string, number>>} */
const baseline = existsSync(BASELINE_FILE) ? JSON.parse(readFileSync(BASELINE_FILE, 'utf8')) : {};
const allowed = (rule, file) => baseline[rule]?.[file] ?? 0;

const where = (d) => `${d.filename}:${d.labels[0]?.span.line ?? 0}:${d.labels[0]?.span.column ?? 0}`;
const failing = report.diagnostics.filter((d) => !BASELINED.includes(d.code) || found[d.code][d.filename] > allowed(d.code, d.filename));
for (const d of failing) {
  const over = BASELINED.includes(d.code) ? ` [${found[d.code][d.filename]} in this file, baseline allows ${allowed(d.code, d.filename)}: remove the new one]` : '';
  console.log(`${where(d)}  ${d.code}  ${d.message}${d.help ? ` (${d.help})` : ''}${over}`);
}

let shrunk = 0;
for (const rule of BASELINED) for (const [file, n] of Object.entries(baseline[rule] ?? {})) shrunk += Math.max(0, n - (found[rule]?.[file] ?? 0));
const kept = report.diagnostics.length - failing.length;
console.log(`oxlint: ${report.number_of_files} files, ${failing.length} problem(s), ${kept} baselined (${BASELINED.join(', ')})`);
if (shrunk > 0) console.log(`oxlint: ${shrunk} baselined finding(s) are gone; lock that in with \`npm run lint:baseline\``);
process.exit(failing.length > 0 ? 1 : 0);
