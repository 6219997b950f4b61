import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient, type ModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { appendDailyLog } from '../../src/report/daily-log.js';
import { dream, dreamSettings, lastDream, memoryStatus, nextDreamAt, DREAM_LOCK_TTL_MS, type DreamDeps } from '../../src/pipeline/dream.js';
import { memoryFor, memoryPath } from '../../src/pipeline/memory.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { tempDir } from '../support/temp.js';

const HOUR = 3_600_000;
const T0 = new Date(2026, 10, 24, 3, 0, 0).getTime(); // 03:00 local, the default schedule
const POLICY = parsePolicyText('models: {triage: claude-haiku-4-5}\nbudget: {day_usd: 1}', 'p.yaml');

let tmp: { dir: string; cleanup(): void };
let fake: FakeAnthropic;
let db: Db;
let home: string;
let repo: string;
let n = 0;

before(async () => {
  tmp = tempDir('kairos-dream-');
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
  tmp.cleanup();
});
beforeEach(() => {
  fake.reset();
  n++;
  home = path.join(tmp.dir, `home${n}`);
  repo = path.join(tmp.dir, `app${n}`);
  db = openDb(path.join(home, 'kairos.db'));
});

function client(apiKey: string | undefined = 'sk-test'): ModelClient {
  return createModelClient({ db, budget: POLICY.budget, models: POLICY.models, apiKey, baseURL: fake.url, prices: loadPriceTable(), sleep: async () => {} });
}
const deps = (at: number, extra: Partial<DreamDeps> = {}): DreamDeps => ({ db, model: client(), home, policy: POLICY, clock: () => at, ...extra });

function happened(at: number, text: string, r = repo): void {
  db.prepare(`INSERT INTO events (type, repo, at, path, origin) VALUES ('file.changed', ?, ?, 'src/a.ts', 'user')`).run(r, new Date(at).toISOString());
  appendDailyLog(home, { at: new Date(at), repo: r, text });
}

const requestText = () => JSON.stringify(fake.messageRequests().map((r) => r.body));

describe('dream', () => {
  test('writes MEMORY.md from the repository\'s daily-log entries, with the cheap model, charged as ambient', async () => {
    happened(T0 - 5 * HOUR, 'tests failed: 3 failures in src/parser.test.ts\n  expected 2, got 3');
    happened(T0 - 4 * HOUR, 'slept: a routine save');
    happened(T0 - 4 * HOUR, 'secret stuff of another project', path.join(tmp.dir, 'other'));
    fake.script({ text: '```markdown\n# app memory\n- src/parser.test.ts fails when the tokenizer changes\n```' });
    const r = await dream(repo, deps(T0));
    assert.equal(r.status, 'done');
    assert.equal(memoryFor(home, repo), '# app memory\n- src/parser.test.ts fails when the tokenizer changes\n');
    assert.ok(memoryPath(home, repo).startsWith(path.join(home, 'memory')));
    const [req] = fake.messageRequests();
    assert.equal(req?.body.model, 'claude-haiku-4-5');
    assert.equal(req?.body.tools, undefined, 'read-only: no tools');
    const sent = requestText();
    assert.match(sent, /3 failures in src\/parser\.test\.ts/);
    assert.match(sent, /expected 2, got 3/, 'continuation lines of a bullet are kept');
    assert.doesNotMatch(sent, /another project/, "other repositories' entries are not sent");
    const spend = db.prepare('SELECT purpose, trigger, state FROM spend_reservations').all();
    assert.deepEqual(spend, [{ purpose: 'ambient', trigger: 'dream', state: 'settled' }]);
    const run = db.prepare('SELECT state, lines, cost_micros FROM dream_runs WHERE id = ?').get(r.runId) as { state: string; lines: number; cost_micros: number };
    assert.equal(run.state, 'done');
    assert.equal(run.lines, 2);
    assert.ok(run.cost_micros > 0);
  });

  test('the current memory is given to the model to rewrite', async () => {
    fs.mkdirSync(path.dirname(memoryPath(home, repo)), { recursive: true });
    fs.writeFileSync(memoryPath(home, repo), '# old\n- the build needs node 20\n');
    happened(T0 - HOUR, 'acted: lint broke');
    fake.script({ text: '# new\n' });
    await dream(repo, deps(T0));
    assert.match(requestText(), /the build needs node 20/);
    assert.equal(memoryFor(home, repo), '# new\n');
  });

  test('skipped when nothing happened: no request, and the reason recorded', async () => {
    const r = await dream(repo, deps(T0));
    assert.deepEqual([r.status, r.status === 'skipped' && r.reason], ['skipped', 'nothing happened since the last dream']);
    assert.equal(fake.requests.length, 0);
    assert.equal(memoryFor(home, repo), null);
    const row = db.prepare('SELECT state, reason FROM dream_runs').get();
    assert.deepEqual(row, { state: 'skipped', reason: 'nothing happened since the last dream' });
  });

  test('at least 24 h between dreams, and again only when something new happened', async () => {
    happened(T0 - HOUR, 'tests failed');
    fake.script({ text: '# one\n' }, { text: '# two\n' });
    assert.equal((await dream(repo, deps(T0))).status, 'done');
    happened(T0 + HOUR, 'tests failed again');
    const soon = await dream(repo, deps(T0 + 2 * HOUR));
    assert.equal(soon.status, 'skipped');
    assert.match(soon.status === 'skipped' ? soon.reason : '', /last dream was 2\.0 h ago; dreams are at least 24 h apart/);
    const next = await dream(repo, deps(T0 + 24 * HOUR));
    assert.equal(next.status, 'done');
    assert.match(requestText(), /tests failed again/);
    const quiet = await dream(repo, deps(T0 + 48 * HOUR));
    assert.deepEqual([quiet.status, quiet.status === 'skipped' && quiet.reason], ['skipped', 'nothing happened since the last dream']);
    assert.equal(fake.messageRequests().length, 2);
  });

  test('on demand skips the 24 h gap, nothing else; status reads the last dream back', async () => {
    happened(T0 - HOUR, 'tests failed');
    fake.script({ text: '# one\n' }, { text: '# two\n' });
    assert.equal((await dream(repo, deps(T0))).status, 'done');
    happened(T0 + HOUR, 'tests failed again');
    const asked = await dream(repo, deps(T0 + 2 * HOUR, { onDemand: true }));
    assert.equal(asked.status, 'done', 'the user asked: no 24 h wait');
    assert.equal(memoryFor(home, repo), '# two\n');
    const quiet = await dream(repo, deps(T0 + 3 * HOUR, { onDemand: true }));
    assert.deepEqual([quiet.status, quiet.status === 'skipped' && quiet.reason], ['skipped', 'nothing happened since the last dream']);
    const off = await dream(repo, deps(T0 + 4 * HOUR, { onDemand: true, policy: parsePolicyText('models: {triage: claude-haiku-4-5}\ndream: {enabled: false}', 'p.yaml') }));
    assert.deepEqual([off.status, off.status === 'skipped' && off.reason], ['skipped', 'dream is off in the policy']);
    assert.equal(fake.messageRequests().length, 2);
    const last = lastDream(db, repo);
    assert.equal(last.doneAt, T0 + 2 * HOUR);
    assert.deepEqual(last.latest, { at: T0 + 4 * HOUR, state: 'skipped', reason: 'dream is off in the policy' });
    const shown = memoryStatus(db, home, repo);
    assert.equal(shown.path, memoryPath(home, repo));
    assert.equal(shown.exists, true);
    assert.equal(shown.last_dream_at, new Date(T0 + 2 * HOUR).toISOString());
  });

  test('the lock: a running dream of the repository blocks another; a crashed one expires', async () => {
    happened(T0 - HOUR, 'tests failed');
    db.prepare(`INSERT INTO dream_runs (repo, started_at, state, lock_expires_at) VALUES (?, ?, 'running', ?)`).run(repo, T0 - 60_000, T0 - 60_000 + DREAM_LOCK_TTL_MS);
    const held = await dream(repo, deps(T0));
    assert.match(held.status === 'skipped' ? held.reason : '', /lock held/);
    assert.equal(fake.requests.length, 0);
    fake.script({ text: '# after the crash\n' });
    const later = await dream(repo, deps(T0 + DREAM_LOCK_TTL_MS));
    assert.equal(later.status, 'done');
    const states = db.prepare('SELECT state FROM dream_runs ORDER BY id').all().map((r) => (r as { state: string }).state);
    assert.deepEqual(states, ['failed', 'skipped', 'done']);
  });

  test('two dreams of one repository at once: only one calls the model', async () => {
    happened(T0 - HOUR, 'tests failed');
    fake.script({ delayMs: 50, then: { text: '# slow\n' } });
    const [a, b] = await Promise.all([dream(repo, deps(T0)), dream(repo, deps(T0))]);
    assert.deepEqual([a.status, b.status].sort(), ['done', 'skipped']);
    assert.equal(fake.messageRequests().length, 1);
  });

  test('MEMORY.md is capped at 200 lines', async () => {
    happened(T0 - HOUR, 'a busy day');
    fake.script({ text: Array.from({ length: 300 }, (_, i) => `- note ${i + 1}`).join('\n') });
    const r = await dream(repo, deps(T0));
    assert.equal(r.status === 'done' && r.truncated, true);
    const lines = (memoryFor(home, repo) ?? '').trimEnd().split('\n');
    assert.equal(lines.length, 200);
    assert.equal(lines[199], '- note 200');
  });

  test('skipped when model steps are off or the policy turns dreaming off', async () => {
    happened(T0 - HOUR, 'tests failed');
    const noKey = await dream(repo, deps(T0, { model: client('') }));
    assert.match(noKey.status === 'skipped' ? noKey.reason : '', /^model steps are off/);
    const off = await dream(repo, deps(T0, { policy: { ...POLICY, dream: { enabled: false } } }));
    assert.match(off.status === 'skipped' ? off.reason : '', /dream is off/);
    assert.equal(fake.requests.length, 0);
  });

  test('schedule: 03:00 local by default, from the policy otherwise', () => {
    assert.deepEqual(dreamSettings(POLICY), { enabled: true, cron: '0 3 * * *' });
    assert.equal(dreamSettings({ ...POLICY, dream: { cron: '30 4 * * *' } }).cron, '30 4 * * *');
    const next = new Date(nextDreamAt('0 3 * * *', T0 + HOUR));
    assert.deepEqual([next.getDate(), next.getHours(), next.getMinutes()], [25, 3, 0]);
  });
});
