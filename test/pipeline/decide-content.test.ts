import { test, describe, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { createModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { decide, tickItem, type DecideDeps } from '../../src/pipeline/decide.js';
import { inertSince } from '../../src/pipeline/inert-changes.js';
import { generatedPaths } from '../../src/pipeline/generated-files.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';

/**
 * The decide stage's content heuristics on real git repositories: what the diff says (formatting,
 * comments, version bumps) and what the repository says is generated. Each sleeping case has a
 * twin that must still reach triage, so a rule that slept on everything would fail here.
 */

const T0 = Date.parse('2026-11-24T10:00:00Z');
const POLICY = parsePolicyText(
  `
budget: {day_usd: 2}
models: {triage: claude-haiku-4-5, act: claude-sonnet-4-6}
triage: {look_every: 0}
`,
  'test.yaml',
);
const SLEEP = { text: JSON.stringify({ act: false, why: 'a routine change', urgency: 'later' }) };

let tmp: { dir: string; cleanup(): void };
let fake: FakeAnthropic;
let db: Db;
let events: EventStore;
let repo: TestRepo;
let n = 0;
let nextId = 1;

before(async () => {
  tmp = tempDir('kairos-decide-content-');
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
  tmp.cleanup();
});
beforeEach(() => {
  fake.reset();
  fake.script(SLEEP, SLEEP, SLEEP, SLEEP);
  n++;
  repo = makeRepo();
  db = openDb(path.join(tmp.dir, `home${n}`, 'kairos.db'));
  events = new EventStore(db);
});
afterEach(() => {
  db.close();
  repo.cleanup();
});

function deps(): DecideDeps {
  const model = createModelClient({ db, budget: POLICY.budget, models: POLICY.models, apiKey: 'sk-test', baseURL: fake.url, prices: loadPriceTable(), clock: () => T0, sleep: async () => {} });
  return { db, model, policy: POLICY, home: path.join(tmp.dir, `home${n}`), clock: () => T0 + nextId * 1000 };
}

/** Commits `files` and decides the ambient item the daemon would make of it: a stored git.commit event and the files' saves. */
async function decideCommit(message: string, files: Record<string, string>) {
  const from = repo.rev();
  const to = repo.commit(message, files);
  const at = new Date(T0).toISOString();
  const stored = events.appendMany([
    ...Object.keys(files).map((p) => ({ type: 'file.changed' as const, repo: repo.dir, at, path: p, origin: 'user' as const, data: {} })),
    { type: 'git.commit' as const, repo: repo.dir, at, origin: 'user' as const, data: { branch: 'main', from, to, message } },
  ]);
  nextId++;
  const item = tickItem({ repo: repo.dir, source: 'ambient', events: stored.map((e) => ({ id: e.id, type: e.type, path: 'path' in e ? e.path : undefined })), paths: Object.keys(files), at: T0 });
  return decide(item, deps());
}

/** Saves without a commit: the item's base is HEAD. */
async function decideSaves(files: Record<string, string>, types: string[] = ['file.changed']) {
  for (const [p, c] of Object.entries(files)) repo.write(p, c);
  const ids = Object.keys(files).map(() => nextId++);
  const evs = Object.keys(files).map((p, i) => ({ id: ids[i]!, type: types[i] ?? types[0]!, path: p }));
  return decide(tickItem({ repo: repo.dir, source: 'ambient', events: evs, at: T0 }), deps());
}

const RS = 'pub fn area(w: u32, h: u32) -> u32 {\n    let a = mul(w, h);\n    a\n}\n';

describe('decide: formatting and comments (by the diff)', () => {
  test('a commit that only reformats sleeps without a model; one that changes code is looked at', async () => {
    repo.commit('add', { 'src/lib.rs': RS });
    const fmt = await decideCommit('fmt', { 'src/lib.rs': 'pub fn area(w: u32, h: u32) -> u32 {\n    let a = mul(\n        w,\n        h);\n\n    a\n}\n' });
    assert.deepEqual([fmt.stage, fmt.outcome], ['heuristic', 'sleep']);
    assert.match(fmt.why, /only formatting changed in 1 file/);
    assert.equal(fake.messageRequests().length, 0);
    const row = db.prepare('SELECT why FROM decisions WHERE id = ?').get(fmt.id) as { why: string };
    assert.equal(row.why, fmt.why, 'the reason is stored with the decision');

    const real = await decideCommit('use add', { 'src/lib.rs': RS.replace('mul(w, h)', 'add(w, h)') });
    assert.equal(real.stage, 'triage');
    assert.equal(fake.messageRequests().length, 1);
  });

  test('whole-line comments edited sleep; a code line with a trailing comment, or code after a closed block comment, is looked at', async () => {
    repo.commit('add', { 'src/a.ts': 'export function f(x: number) {\n  return x + 1;\n}\n' });
    const doc = await decideSaves({ 'src/a.ts': '/**\n * Adds one.\n */\nexport function f(x: number) {\n  // the successor\n  return x + 1;\n}\n' });
    assert.deepEqual([doc.stage, doc.outcome], ['heuristic', 'sleep']);
    assert.match(doc.why, /only comments changed/);

    const trailing = await decideSaves({ 'src/a.ts': 'export function f(x: number) {\n  return x + 2; // the successor\n}\n' });
    assert.equal(trailing.stage, 'triage');
    const hidden = await decideSaves({ 'src/a.ts': 'export function f(x: number) {\n  /* note\n  */ x = 0;\n  return x + 1;\n}\n' });
    assert.equal(hidden.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });

  test('in Python indentation is code: re-indenting is looked at, trailing spaces are not', async () => {
    repo.commit('add', { 'app.py': 'def f(x):\n    if x:\n        return 1\n    return 2\n' });
    const trailing = await decideSaves({ 'app.py': 'def f(x):   \n    if x:\n        return 1\n\n    return 2\n' });
    assert.deepEqual([trailing.stage, trailing.outcome], ['heuristic', 'sleep']);
    const reindent = await decideSaves({ 'app.py': 'def f(x):\n    if x:\n        return 1\n        return 2\n' });
    assert.equal(reindent.stage, 'triage');
  });
});

describe('decide: release bookkeeping (version numbers)', () => {
  test("a release commit (own version, citation, snapshot of --help, lock) sleeps; a dependency upgrade is looked at", async () => {
    repo.commit('add', {
      'Cargo.toml': '[package]\nname = "tool"\nversion = "1.18.4"\n\n[dependencies]\nlib = { version = "2.0.0-pre.8", path = "../lib" }\ntokio = "1.15"\n',
      'Cargo.lock': '[[package]]\nname = "tool"\nversion = "1.18.4"\n',
      'CITATION.cff': 'version: "1.18.4"\ndate-released: 2022-01-20\n',
      'tests/snapshots/help.snap': '---\nsource: tests/help.rs\n---\ntool 1.18.4\nUsage: tool [OPTIONS]\n',
      'src/main.rs': 'fn main() {}\n',
    });
    const release = await decideCommit('cli: v1.18.5', {
      'Cargo.toml': '[package]\nname = "tool"\nversion = "1.18.5"\n\n[dependencies]\nlib = { version = "2.0.0-pre.9", path = "../lib" }\ntokio = "1.15"\n',
      'Cargo.lock': '[[package]]\nname = "tool"\nversion = "1.18.5"\n',
      'CITATION.cff': 'version: "1.18.5"\ndate-released: 2022-01-28\n',
      'tests/snapshots/help.snap': '---\nsource: tests/help.rs\n---\ntool 1.18.5\nUsage: tool [OPTIONS]\n',
    });
    assert.deepEqual([release.stage, release.outcome], ['heuristic', 'sleep']);
    assert.match(release.why, /only version numbers or dates changed in 2 files/);
    assert.equal(fake.messageRequests().length, 0);

    const upgrade = await decideCommit('update deps', { 'Cargo.toml': '[package]\nname = "tool"\nversion = "1.18.5"\n\n[dependencies]\nlib = { version = "2.0.0-pre.9", path = "../lib" }\ntokio = "1.16"\n' });
    assert.equal(upgrade.stage, 'triage', 'a dependency upgrade can break the build');
    // A release also writes its new version into other manifest lines (an image tag): bookkeeping too.
    repo.commit('pkg', { 'package.json': '{\n  "name": "cli",\n  "version": "0.34.0-nightly.1",\n  "config": {\n    "image": "docker.example/sandbox:0.34.0-nightly.1"\n  },\n  "dependencies": {\n    "left-pad": "1.0.0"\n  }\n}\n' });
    const bump = await decideCommit('chore(release): bump version', { 'package.json': '{\n  "name": "cli",\n  "version": "0.34.0-nightly.2",\n  "config": {\n    "image": "docker.example/sandbox:0.34.0-nightly.2"\n  },\n  "dependencies": {\n    "left-pad": "1.0.0"\n  }\n}\n' });
    assert.deepEqual([bump.stage, bump.outcome], ['heuristic', 'sleep']);
    const depToOther = await decideCommit('deps', { 'package.json': '{\n  "name": "cli",\n  "version": "0.34.0-nightly.2",\n  "config": {\n    "image": "docker.example/sandbox:0.34.0-nightly.2"\n  },\n  "dependencies": {\n    "left-pad": "1.3.0"\n  }\n}\n' });
    assert.equal(depToOther.stage, 'triage', 'a dependency moved to a version no package here was given');
    const inCode = await decideCommit('bump', { 'src/main.rs': 'const V: &str = "1.2.3";\nfn main() {}\n' });
    assert.equal(inCode.stage, 'triage', 'a version in source code is code');
  });
});

describe('decide: generated files', () => {
  test("files a generator's header or .gitattributes marks as generated sleep; the generator's input beside them is looked at", async () => {
    repo.commit('add', {
      '.gitattributes': 'schemas/*.json linguist-generated\nschemas/keep.json -linguist-generated\n',
      'schemas/settings.json': '{"a": 1}\n',
      'schemas/keep.json': '{"a": 1}\n',
      'src/api.pb.go': '// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\n',
      'src/api.go': 'package api\n',
    });
    const gen = await decideCommit('regenerate', { 'schemas/settings.json': '{"a": 2}\n', 'src/api.pb.go': '// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\nvar X = 1\n' });
    assert.deepEqual([gen.stage, gen.outcome], ['heuristic', 'sleep']);
    assert.match(gen.why, /only generated files changed \(2,/);

    const unmarked = await decideCommit('keep', { 'schemas/keep.json': '{"a": 2}\n' });
    assert.equal(unmarked.stage, 'triage', '-linguist-generated unsets the mark');
    const withInput = await decideCommit('api', { 'src/api.go': 'package api\nvar Y = 2\n', 'src/api.pb.go': '// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\nvar X = 2\n' });
    assert.equal(withInput.stage, 'triage');
    assert.deepEqual([...(await generatedPaths(repo.dir, ['src/api.go', 'src/api.pb.go', 'schemas/settings.json', 'schemas/keep.json', 'missing.txt']))].sort(), ['schemas/settings.json', 'src/api.pb.go']);
  });
});

describe('inertSince: what is not read as inert', () => {
  test('a binary file, an unknown base, an item that moved the work tree', async () => {
    repo.commit('add', { 'img.bin': 'a\0b', 'src/x.ts': 'let a = 1;\n' });
    repo.write('img.bin', 'a\0c');
    assert.equal((await inertSince(repo.dir, 'HEAD', ['img.bin'])).inert, false);
    repo.write('src/x.ts', 'let a  =  1;\n');
    assert.equal((await inertSince(repo.dir, 'HEAD', ['src/x.ts'])).inert, true);
    assert.equal((await inertSince(repo.dir, '0123456789abcdef0123456789abcdef01234567', ['src/x.ts'])).inert, false);
    // A checkout brought the files from elsewhere: no base, so a look.
    const d = await decideSaves({ 'src/x.ts': 'let a =   1;\n' }, ['git.checkout']);
    assert.equal(d.stage, 'triage');
  });
});

describe('decide: touched, not changed', () => {
  test('saves that put back what HEAD holds sleep without a model; a save that differs is looked at', async () => {
    repo.commit('add', { 'src/x.ts': 'export const a = 1;\n' });
    repo.write('src/x.ts', 'export const a = 2;\n');
    const back = await decideSaves({ 'src/x.ts': 'export const a = 1;\n' });
    assert.deepEqual([back.stage, back.outcome], ['heuristic', 'sleep']);
    assert.match(back.why, /hold what they held before/);
    const untracked = await decideSaves({ 'src/new.ts': 'export const b = 1;\n' });
    assert.equal(untracked.stage, 'triage', 'a new file git does not track yet is a change, though git diff is silent about it');
    const differs = await decideSaves({ 'src/x.ts': 'export const a = 3;\n' });
    assert.equal(differs.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });
});
