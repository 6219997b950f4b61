#!/usr/bin/env node
// Refreshes policies/secrets/gitleaks.toml from upstream gitleaks (needs network; run by a maintainer).
//   node scripts/update-secret-rules.mjs              # upstream's default branch
//   node scripts/update-secret-rules.mjs --ref v8.31.0
//   node scripts/update-secret-rules.mjs --file path/to/gitleaks.toml   # a copy obtained another way
// The new file is checked with the same loader the daemon uses (after `npm run build`): it must parse,
// and no more than a few rules may be lost to translation; otherwise nothing is written.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'policies', 'secrets', 'gitleaks.toml');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const MAX_SKIPPED = 3;

async function fetchText() {
  const file = opt('--file');
  if (file) return { text: fs.readFileSync(file, 'utf8'), from: file };
  const ref = opt('--ref') ?? 'master';
  const url = `https://raw.githubusercontent.com/gitleaks/gitleaks/${encodeURIComponent(ref)}/config/gitleaks.toml`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return { text: await res.text(), from: url };
}

const loader = path.join(root, 'dist', 'src', 'policy', 'redact', 'rule-set.js');
if (!fs.existsSync(loader)) {
  console.error('update-secret-rules: run `npm run build` first (the check uses the compiled loader)');
  process.exit(1);
}
const { compileRuleSet } = await import(pathToFileURL(loader).href);
const { text, from } = await fetchText();
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
const sha = crypto.createHash('sha256').update(text).digest('hex');
console.log(`update-secret-rules: ${set.rules.length} rules from ${from}${before === text ? ' (unchanged)' : ''}`);
console.log(`  sha256 ${sha}`);
for (const s of set.skipped) console.log(`  skipped ${s.id}: ${s.reason}`);
console.log('Now update policies/secrets/README.md (version, commit, sha256) and run the redaction tests.');
