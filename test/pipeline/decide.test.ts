import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient, type ModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { Presence } from '../../src/pipeline/presence.js';
import { writeMemory } from '../../src/pipeline/memory.js';
import { contentHash, decide, describeDecision, mergeTickItems, tickItem, withTickBudget, type DecideDeps, type TickItem } from '../../src/pipeline/decide.js';
import { LookMemory } from '../../src/pipeline/look-memory.js';
import { isDocumentation } from '../../src/pipeline/doc-paths.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { tempDir } from '../support/temp.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const prices = loadPriceTable();
const POLICY = parsePolicyText(
  `
triggers:
  - {name: tests, on: {fs: ["src/**"]}, run: npm test}
  - {name: heads-up, on: {fs: ["db/**"]}, notify: always}
budget: {day_usd: 2}
models: {triage: claude-haiku-4-5, act: claude-sonnet-4-6}
# Looks one after another, on one clock: the look back-off has tests of its own (below).
triage: {look_every: 0}
`,
  'test.yaml',
);

let tmp: { dir: string; cleanup(): void };
let fake: FakeAnthropic;
let db: Db;
let repo: string;
let home: string;
let n = 0;

before(async () => {
  tmp = tempDir('kairos-decide-');
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
  repo = path.join(tmp.dir, `repo${n}`);
  fs.mkdirSync(path.join(repo, 'src'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'src/app.ts'), 'export const x = 1;\n');
  db = openDb(path.join(home, 'kairos.db'));
});

function client(opts: { apiKey?: string; budget?: Policy['budget'] } = {}): ModelClient {
  return createModelClient({
    db,
    budget: opts.budget ?? POLICY.budget,
    models: POLICY.models,
    apiKey: 'apiKey' in opts ? opts.apiKey : 'sk-test',
    baseURL: fake.url,
    prices,
    clock: () => T0,
    sleep: async () => {},
  });
}

function deps(extra: Partial<DecideDeps> = {}): DecideDeps {
  return { db, model: client(), policy: POLICY, home, clock: () => T0, ...extra };
}

function ambient(paths = ['src/app.ts'], types = ['file.changed'], id = 1): TickItem {
  return tickItem({ repo, source: 'ambient', events: types.map((type, i) => ({ id: id + i, type, path: paths[i] ?? paths[0] })), paths, at: T0 });
}

const answer = (o: object) => ({ text: JSON.stringify(o) });
const SLEEP = answer({ act: false, why: 'a routine save', urgency: 'later' });
const rows = () => db.prepare('SELECT * FROM decisions ORDER BY id').all() as Array<Record<string, unknown>>;

describe('decide: stage 1, rules', () => {
  test('an item from a trigger with run is left to the rules, without a model', async () => {
    const item = tickItem({ repo, source: 'batch', trigger: POLICY.triggers[0], events: [{ id: 1, type: 'file.changed', path: 'src/app.ts' }], batchId: 7, at: T0 });
    const d = await decide(item, deps());
    assert.deepEqual([d.stage, d.outcome], ['rules', 'rules']);
    assert.match(d.why, /trigger 'tests' runs `npm test`/);
    assert.equal(fake.requests.length, 0);
    const [row] = rows();
    assert.equal(row?.batch_id, 7);
    assert.equal(row?.trigger, 'tests');
    assert.equal(row?.event_ids, '[1]');
    assert.equal(row?.cost_micros, 0);
  });

  test('a notification-only trigger is not a rule that acts: its batch goes on to triage', async () => {
    fake.script(SLEEP);
    const item = tickItem({ repo, source: 'batch', trigger: POLICY.triggers[1], events: [{ id: 1, type: 'file.added', path: 'db/1.sql' }], at: T0 });
    const d = await decide(item, deps());
    assert.deepEqual([d.stage, d.outcome], ['triage', 'sleep']);
    assert.equal(fake.messageRequests().length, 1);
  });
});

describe('decide: stage 2, heuristics', () => {
  test('the same content as the last look sleeps without a second triage request', async () => {
    fake.script(SLEEP, SLEEP);
    const first = await decide(ambient(), deps());
    assert.deepEqual([first.stage, first.outcome], ['triage', 'sleep']);
    const again = await decide(ambient(['src/app.ts'], ['file.changed'], 2), deps());
    assert.deepEqual([again.stage, again.outcome], ['heuristic', 'sleep']);
    assert.match(again.why, /nothing changed/);
    assert.equal(fake.messageRequests().length, 1);
    // New content is looked at again.
    fs.writeFileSync(path.join(repo, 'src/app.ts'), 'export const x = 2;\n');
    const changed = await decide(ambient(['src/app.ts'], ['file.changed'], 3), deps());
    assert.equal(changed.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });

  test('a poke looks again even when nothing changed', async () => {
    fake.script(SLEEP, SLEEP);
    await decide(ambient(), deps());
    const poke = tickItem({ repo, source: 'poke', events: [{ id: 9, type: 'manual' }], paths: ['src/app.ts'], note: 'look again', at: T0 });
    const d = await decide({ ...poke, contentHash: ambient().contentHash }, deps());
    assert.equal(d.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });

  test('while the user is editing, routine items wait (later) and urgent ones do not', async () => {
    const presence = new Presence({ clock: () => T0 });
    presence.noteFsActivity(T0 - 60_000);
    const d = await decide(ambient(), deps({ presence }));
    assert.deepEqual([d.stage, d.outcome, d.mode], ['heuristic', 'later', 'active']);
    assert.equal(fake.requests.length, 0);
    // A commit while the user goes on typing waits with the saves (replayed histories: one look per
    // session instead of one per commit); a poke does not wait.
    const commit = await decide(ambient(['src/app.ts'], ['git.commit'], 5), deps({ presence }));
    assert.deepEqual([commit.stage, commit.outcome], ['heuristic', 'later']);
    fake.script(SLEEP);
    const poke = await decide(tickItem({ repo, source: 'poke', events: [{ id: 6, type: 'manual' }], note: 'look', at: T0 }), deps({ presence }));
    assert.equal(poke.stage, 'triage');
    // A deferred item is not "looked at": once the user is away the same content is triaged.
    fake.script(SLEEP);
    const away = await decide(ambient(), deps({ presence: { mode: () => 'away' } }));
    assert.deepEqual([away.stage, away.mode], ['triage', 'away']);
  });

  test('a command that failed since the last look makes a save worth a look even while the user edits', async () => {
    const presence = { mode: () => 'active' as const };
    fake.script(SLEEP);
    // The last look: a commit decided while the user was away.
    assert.equal((await decide(ambient(['src/app.ts'], ['git.commit']), deps({ presence: { mode: () => 'away' } }))).stage, 'triage');
    fs.writeFileSync(path.join(repo, 'src/app.ts'), 'export const x = 4;\n');
    assert.equal((await decide(ambient(['src/app.ts'], ['file.changed'], 2), deps({ presence }))).outcome, 'later');
    const failedAt = new Date(T0 + 1000).toISOString();
    db.prepare(`INSERT INTO tasks (repo, trigger, kind, state, created_at, finished_at, exit_code) VALUES (?, 'tests', 'command', 'failed', ?, ?, 1)`).run(repo, failedAt, failedAt);
    fake.script(answer({ act: true, why: 'tests fail', task: 'fix them', urgency: 'next' }));
    const d = await decide(ambient(['src/app.ts'], ['file.changed'], 3), deps({ presence, clock: () => T0 + 2000 }));
    assert.deepEqual([d.stage, d.outcome], ['action', 'act']);
    // Once looked at, the failure is old news: routine saves wait again.
    fs.writeFileSync(path.join(repo, 'src/app.ts'), 'export const x = 5;\n');
    assert.equal((await decide(ambient(['src/app.ts'], ['file.changed'], 4), deps({ presence, clock: () => T0 + 3000 }))).outcome, 'later');
  });

  test('budget low: a cap the ledger would refuse sleeps without any request reaching the API', async () => {
    const d = await decide(ambient(), deps({ model: client({ budget: { day_usd: 0.0001 } }) }));
    assert.deepEqual([d.stage, d.outcome], ['heuristic', 'sleep']);
    assert.match(d.why, /^budget low: only rules/);
    assert.deepEqual(fake.requests, []);
    assert.equal((db.prepare('SELECT COUNT(*) AS c FROM spend_reservations').get() as { c: number }).c, 0);
  });

  test('budget low: money kept back for the user (triage.reserve_usd) counts as spent for ambient triage', async () => {
    const policy = { ...POLICY, triage: { reserve_usd: 1.999 } };
    const d = await decide(ambient(), deps({ policy }));
    assert.match(d.why, /^budget low: only rules .*kept for your own requests/);
    assert.deepEqual(fake.requests, []);
  });

  test('no API key: sleeps with "model steps are off"', async () => {
    const d = await decide(ambient(), deps({ model: client({ apiKey: undefined }) }));
    assert.deepEqual([d.stage, d.outcome], ['heuristic', 'sleep']);
    assert.match(d.why, /^model steps are off/);
    assert.deepEqual(fake.requests, []);
  });

  test('triage turned off in the policy: only rules', async () => {
    const d = await decide(ambient(), deps({ policy: { ...POLICY, triage: { enabled: false } } }));
    assert.match(d.why, /^model steps are off: triage is disabled/);
    assert.deepEqual(fake.requests, []);
  });
});

describe('decide: stage 2, files already looked at, documentation', () => {
  test('the same files regrouped (saves parked while the user typed, after their commit was looked at) sleep without a second request', async () => {
    const looks = new LookMemory();
    fs.writeFileSync(path.join(repo, 'src/b.ts'), 'export const b = 1;\n');
    fake.script(SLEEP);
    const commit = await decide(ambient(['src/app.ts', 'src/b.ts'], ['git.commit', 'git.commit'], 1), deps({ looks }));
    assert.equal(commit.stage, 'triage');
    // The parked saves of one of those files: a different item (other hash), the same content.
    const saves = await decide(ambient(['src/b.ts'], ['file.changed'], 3), deps({ looks }));
    assert.deepEqual([saves.stage, saves.outcome, saves.why], ['heuristic', 'sleep', 'nothing changed since a model looked at these files']);
    assert.equal(fake.messageRequests().length, 1);
    // Without the memory (today's rule alone) the regrouped files were asked about again.
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/b.ts'], ['file.changed'], 4), deps())).stage, 'triage');
    // A file changed since: looked at.
    fs.writeFileSync(path.join(repo, 'src/b.ts'), 'export const b = 2;\n');
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/b.ts'], ['file.changed'], 5), deps({ looks }))).stage, 'triage');
    assert.equal(fake.messageRequests().length, 3);
  });

  test('a command that finished since the last look is news: the same files are looked at again', async () => {
    const looks = new LookMemory();
    fake.script(SLEEP, SLEEP);
    await decide(ambient(), deps({ looks }));
    // Regrouped (a commit of the same file, so not the same item): covered while no task finished...
    const regrouped = await decide(ambient(['src/app.ts'], ['git.commit'], 2), deps({ looks, clock: () => T0 + 500 }));
    assert.equal(regrouped.why, 'nothing changed since a model looked at these files');
    const at = new Date(T0 + 1000).toISOString();
    db.prepare(`INSERT INTO tasks (repo, trigger, kind, state, created_at, finished_at, exit_code) VALUES (?, 'tests', 'command', 'done', ?, ?, 0)`).run(repo, at, at);
    // ...and looked at once one did.
    const d = await decide(ambient(['src/app.ts'], ['git.commit'], 3), deps({ looks, clock: () => T0 + 2000 }));
    assert.equal(d.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });

  test('documentation alone sleeps without a model; with code, or asked for by a poke, it is looked at', async () => {
    for (const p of ['README.md', 'docs/guide.rst', 'docs/img/flow.PNG', 'CHANGELOG', 'LICENSE-MIT', 'doc/tool.1']) fs.mkdirSync(path.dirname(path.join(repo, p)), { recursive: true });
    const docs = await decide(ambient(['README.md', 'docs/guide.rst', 'docs/img/flow.PNG', 'CHANGELOG', 'LICENSE-MIT', 'doc/tool.1'], Array(6).fill('file.changed')), deps());
    assert.deepEqual([docs.stage, docs.outcome, docs.why], ['heuristic', 'sleep', 'only documentation changed: nothing for an agent to check']);
    assert.equal(fake.requests.length, 0);
    fake.script(SLEEP, SLEEP);
    assert.equal((await decide(ambient(['README.md', 'src/app.ts'], ['file.changed', 'file.changed'], 10), deps())).stage, 'triage');
    const poke = tickItem({ repo, source: 'poke', events: [{ id: 20, type: 'manual' }], paths: ['README.md'], note: 'proofread', at: T0 });
    assert.equal((await decide(poke, deps())).stage, 'triage');
    // Code under docs/ is code.
    assert.equal(isDocumentation('docs/conf.py'), false);
    assert.equal(isDocumentation('docs/site/build.ts'), false);
  });
});

describe('decide: stage 2, lock files', () => {
  test('lock files alone, or with documentation, sleep without a model; with a manifest or code they are looked at', async () => {
    for (const [p, body] of [['package-lock.json', '{}'], ['crates/cli/Cargo.lock', '# lock'], ['go.sum', 'x'], ['CHANGELOG.md', '# c']] as const) {
      fs.mkdirSync(path.dirname(path.join(repo, p)), { recursive: true });
      fs.writeFileSync(path.join(repo, p), body);
    }
    const locks = await decide(ambient(['package-lock.json', 'crates/cli/Cargo.lock', 'go.sum'], ['git.commit', 'git.commit', 'git.commit']), deps());
    assert.deepEqual([locks.stage, locks.outcome, locks.why], ['heuristic', 'sleep', "only lock files or documentation changed: a package manager's output"]);
    const withDocs = await decide(ambient(['Cargo.lock', 'CHANGELOG.md'], ['file.changed', 'file.changed'], 5), deps());
    assert.equal(withDocs.why, "only lock files or documentation changed: a package manager's output");
    assert.equal(fake.requests.length, 0);
    fs.writeFileSync(path.join(repo, 'package.json'), '{"name":"x"}');
    fake.script(SLEEP, SLEEP);
    assert.equal((await decide(ambient(['package.json', 'package-lock.json'], ['file.changed', 'file.changed'], 10), deps())).stage, 'triage');
    const poke = tickItem({ repo, source: 'poke', events: [{ id: 20, type: 'manual' }], paths: ['go.sum'], note: 'why did this change?', at: T0 });
    assert.equal((await decide(poke, deps())).stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });

  test('files a model looked at, with only documentation or lock files new beside them, sleep; new code beside them is looked at', async () => {
    const looks = new LookMemory();
    fs.writeFileSync(path.join(repo, 'README.md'), '# r\n');
    fs.writeFileSync(path.join(repo, 'Cargo.lock'), '# lock\n');
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/app.ts'], ['git.commit']), deps({ looks }))).stage, 'triage');
    // The saves of that file regrouped with a README edit and a lock refresh: nothing a model would act on is new.
    const d = await decide(ambient(['src/app.ts', 'README.md', 'Cargo.lock'], ['file.changed', 'file.changed', 'file.changed'], 2), deps({ looks }));
    assert.deepEqual([d.stage, d.outcome, d.why], ['heuristic', 'sleep', 'nothing new but documentation or lock files since a model looked']);
    assert.equal(fake.messageRequests().length, 1);
    // A new code file beside them is news.
    fs.writeFileSync(path.join(repo, 'src/new.ts'), 'export const n = 1;\n');
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/app.ts', 'README.md', 'src/new.ts'], ['file.changed', 'file.changed', 'file.changed'], 5), deps({ looks }))).stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });
});

describe('decide: stage 2, looks that keep finding nothing come less often', () => {
  const EVERY = 10 * 60_000;
  const backoff = { ...POLICY, triage: { look_every: '10m' } };
  const edit = (n: number) => fs.writeFileSync(path.join(repo, 'src/app.ts'), `export const x = ${n};\n`);

  test('after a quiet look the next waits look_every, then twice as long after each further one, up to 16×; the wait says when', async () => {
    let now = T0;
    const at = () => now;
    const look = async (n: number) => {
      edit(n);
      return decide(ambient(['src/app.ts'], ['file.changed'], n), deps({ policy: backoff, clock: at }));
    };
    fake.script(SLEEP);
    assert.equal((await look(1)).stage, 'triage');
    for (const [k, gap] of [1, 2, 4, 8, 16, 16].entries()) {
      now += gap * EVERY - 1000;
      const held = await look(10 + k);
      assert.deepEqual([held.stage, held.outcome], ['heuristic', 'later'], `quiet look ${k + 1}: held`);
      assert.equal(held.retryAt, now + 1000, `quiet look ${k + 1}: the next look is ${gap}× look_every after the last`);
      now += 1000;
      fake.script(SLEEP);
      assert.equal((await look(20 + k)).stage, 'triage', `quiet look ${k + 1}: looked at once the wait is over`);
    }
    assert.equal(fake.messageRequests().length, 7);
  });

  test('an act answer starts over; a failed command and a poke are never held', async () => {
    let now = T0;
    const at = () => now;
    fake.script(SLEEP);
    await decide(ambient(), deps({ policy: backoff, clock: at }));
    now += 60_000;
    edit(2);
    // A poke: looked at, and it found something.
    fake.script(answer({ act: true, why: 'a fix', task: 'fix it', urgency: 'next' }));
    const poke = await decide(tickItem({ repo, source: 'poke', events: [{ id: 5, type: 'manual' }], note: 'look', at: now }), deps({ policy: backoff, clock: at }));
    assert.equal(poke.outcome, 'act');
    // The last look acted: the next change is looked at without waiting.
    now += 60_000;
    edit(3);
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/app.ts'], ['file.changed'], 6), deps({ policy: backoff, clock: at }))).stage, 'triage');
    // Quiet again: held; until a rule's command fails.
    now += 60_000;
    edit(4);
    assert.equal((await decide(ambient(['src/app.ts'], ['file.changed'], 7), deps({ policy: backoff, clock: at }))).outcome, 'later');
    const failedAt = new Date(now + 1).toISOString();
    db.prepare(`INSERT INTO tasks (repo, trigger, kind, state, created_at, finished_at, exit_code) VALUES (?, 'tests', 'command', 'failed', ?, ?, 1)`).run(repo, failedAt, failedAt);
    now += 1000;
    fake.script(SLEEP);
    assert.equal((await decide(ambient(['src/app.ts'], ['file.changed'], 8), deps({ policy: backoff, clock: at }))).stage, 'triage');
  });
});

describe('decide: stage 3, triage, and 4, action', () => {
  test('triage says act: the decision carries the task, its urgency and its cost, and is stored', async () => {
    fake.script(answer({ act: true, why: 'the commit breaks the unit tests', task: 'Run npm test and propose a fix for the failure in src/app.ts', urgency: 'now' }));
    const d = await decide(ambient(['src/app.ts'], ['git.commit']), deps());
    assert.deepEqual([d.stage, d.outcome, d.urgency], ['action', 'act', 'now']);
    assert.match(d.task ?? '', /propose a fix/);
    assert.ok(d.costMicro > 0);
    assert.equal(d.model, 'claude-haiku-4-5');
    const [row] = rows();
    assert.equal(row?.outcome, 'act');
    assert.equal(row?.cost_micros, d.costMicro);
    assert.equal(row?.content_hash, d.contentHash);
    assert.match(describeDecision(d), /^acted: the commit breaks the unit tests, \$\d/);
    const spend = db.prepare('SELECT purpose, model, state FROM spend_reservations').all();
    assert.deepEqual(spend, [{ purpose: 'ambient', model: 'claude-haiku-4-5', state: 'settled' }]);
  });

  test('the request: the triage model, a small max_tokens, a cached stable prefix with the memory, the batch in the message', async () => {
    writeMemory(home, repo, '# Memory\n- tests are flaky on Mondays\n');
    fake.script(SLEEP);
    await decide(ambient(['src/app.ts'], ['file.changed']), deps());
    const [req] = fake.messageRequests();
    assert.equal(req?.body.model, 'claude-haiku-4-5');
    assert.ok(req?.body.max_tokens <= 500);
    const system = req?.body.system as Array<{ text: string; cache_control?: unknown }>;
    assert.ok(system.every((b) => b.cache_control), 'every system block is a cache breakpoint');
    assert.match(system.map((b) => b.text).join('\n'), /tests are flaky on Mondays/);
    assert.match(system.map((b) => b.text).join('\n'), /tests \(on fs src\/\*\*\): runs `npm test`/);
    const user = JSON.stringify(req?.body.messages);
    assert.match(user, /src\/app\.ts/);
    assert.match(user, /file\.changed/);
    // A second call with other content reads the stable prefix from the cache.
    fake.script(SLEEP);
    fs.writeFileSync(path.join(repo, 'src/app.ts'), 'export const x = 3;\n');
    await decide(ambient(['src/app.ts'], ['file.changed'], 4), deps());
    assert.ok((fake.billed[1]?.usage.cache_read_input_tokens ?? 0) > 0);
  });

  for (const [name, reply, reason] of [
    ['not JSON', { text: 'I think you should run the tests.' }, /not a JSON object/],
    ['wrong shape', answer({ act: 'yes', why: 'x', urgency: 'soon' }), /wrong shape/],
    ['act without a task', answer({ act: true, why: 'x', urgency: 'now' }), /without a task/],
    ['prose around the JSON', { text: 'Sure! {"act": true, "why": "x", "task": "y", "urgency": "now"} Hope that helps.' }, /not a JSON object/],
    ['cut off at max_tokens', { text: '{"act": true, "why": "' + 'x'.repeat(2000) + '"}' }, /cut off/],
    ['a model error', { status: 400 as const, message: 'bad request' }, /triage call failed/],
  ] as const) {
    test(`invalid triage output (${name}) counts as "don't act", with the reason`, async () => {
      fake.script(reply);
      const d = await decide(ambient(['src/app.ts'], ['git.commit']), deps());
      assert.equal(d.outcome, 'sleep');
      assert.equal(d.task, undefined);
      assert.match(d.why, /^no usable triage answer, not acting: /);
      assert.match(d.why, reason);
    });
  }

  test('a failed call does not count as a look: the same content is triaged again next time', async () => {
    fake.script({ status: 400 }, SLEEP);
    await decide(ambient(), deps());
    const d = await decide(ambient(), deps());
    assert.equal(d.stage, 'triage');
    assert.equal(fake.messageRequests().length, 2);
  });
});

describe('tick items', () => {
  test('the content hash follows file contents, not events', () => {
    const a = contentHash(repo, ['src/app.ts']);
    assert.equal(contentHash(repo, ['src/app.ts', 'src/app.ts']), a);
    fs.writeFileSync(path.join(repo, 'src/app.ts'), 'changed');
    assert.notEqual(contentHash(repo, ['src/app.ts']), a);
    assert.notEqual(contentHash(repo, ['src/gone.ts']), contentHash(repo, ['src/other.ts']));
  });

  test('urgency before triage: poke now, git next, saves later; merging keeps the more urgent', () => {
    const save = ambient();
    const commit = ambient(['src/app.ts'], ['git.commit'], 2);
    assert.equal(save.urgency, 'later');
    assert.equal(commit.urgency, 'next');
    assert.equal(tickItem({ repo, source: 'poke', events: [{ id: 3, type: 'manual' }], at: T0 }).urgency, 'now');
    const m = mergeTickItems(save, commit, (paths) => contentHash(repo, paths));
    assert.deepEqual([m.urgency, m.eventIds, m.eventTypes], ['next', [1, 2], ['file.changed', 'git.commit']]);
  });
});

describe('withTickBudget', () => {
  test('work that finishes in time is returned', async () => {
    const r = await withTickBudget(Promise.resolve(42), 15_000, () => assert.fail('not late'));
    assert.deepEqual(r, { status: 'done', value: 42 });
  });

  test('work still running at the deadline moves to the background; onLate reports it when done', async () => {
    let finish!: (v: string) => void;
    const work = new Promise<string>((r) => (finish = r));
    const late = new Promise<unknown>((resolve) => {
      void withTickBudget(work, 1, resolve).then((r) => {
        assert.deepEqual(r, { status: 'later' });
        finish('tests passed');
      });
    });
    assert.deepEqual(await late, { ok: true, value: 'tests passed' });
  });

  test('a failure in time is returned as an error, not thrown', async () => {
    const r = await withTickBudget(Promise.reject(new Error('exit 1')), 15_000, () => {});
    assert.equal(r.status, 'error');
  });
});
