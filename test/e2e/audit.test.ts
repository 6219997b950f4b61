import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { startFakeAnthropic, type FakeAnthropic, type ToolUseBlockSpec } from '../support/fake-anthropic.js';
import { scriptAgent } from '../adversarial/support/agent-script.js';
import { treeHash } from '../support/tree-hash.js';
import { rowHash } from '../../src/store/audit-chain.js';

/**
 * The audit of a real daemon run, read and checked with the real CLI: every kind of step leaves one
 * row per layer (n/a where a layer had nothing to decide), and the chain the daemon wrote catches an
 * edited, an inserted and a deleted row. Also issue 10's regression: with the daemon stopped,
 * `kairos apply P --hash H` on an approval past its expiry is refused and the approval is expired.
 */

interface Row {
  id: number;
  at: string;
  repo: string;
  task_id: number | null;
  origin: string;
  what: string;
  layer: string;
  verdict: string;
  reason: string | null;
  rule: string | null;
  final: string | null;
  eval_id: string;
}
interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
  proposal?: { id: string; hash: string };
  approval_id?: string;
}

const LAYERS = ['validate', 'trust', 'gate', 'spend', 'permission', 'sandbox', 'approval', 'filter'];
const tool = (id: string, name: string, input: Record<string, unknown>): ToolUseBlockSpec => ({ type: 'tool_use', id: `toolu_${id}`, name, input });

describe('the audit of a real daemon run', () => {
  let fake: FakeAnthropic;
  let h: ReturnType<typeof makeHome>;
  let repo: TestRepo;
  let rows: Row[];
  const proposals: Array<{ id: string; hash: string; approval: string }> = [];
  let expiredApply: { code: number; stderr: string; approvalState: string; treeSame: boolean };

  before(async () => {
    fake = await startFakeAnthropic();
    const agent = scriptAgent(fake);
    h = makeHome(`
triggers:
  - name: fix
    on: { manual: true }
    run: node check.js
    ask: "the check failed: propose a fix"
    ask_on: failure
    notify: never
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6 }
`);
    // The user's own hook: no commands for the agent in this test.
    fs.writeFileSync(path.join(h.home, 'hooks.json'), JSON.stringify({ hooks: { PreToolUse: [{ matcher: 'run_command', hooks: [{ type: 'command', command: 'echo "no commands in this test" >&2; exit 2' }] }] } }));
    h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
    h.env.ANTHROPIC_BASE_URL = fake.url;
    repo = makeRepo();
    repo.write('check.js', "console.log('check failed'); process.exit(1);\n");
    repo.write('src/a.js', 'export const a = 1;\n');
    repo.commit('a failing check');
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);

    let d: DaemonProcess | undefined = await spawnDaemon([repo.dir], h.env);
    try {
      for (let i = 1; i <= 3; i++) {
        agent.push(
          { content: [tool(`cmd${i}`, 'run_command', { command: 'node --test test/' }), tool(`read${i}`, 'read_file', { path: 'src/a.js' })], stop_reason: 'tool_use' },
          { content: [tool(`write${i}`, 'write_file', { path: `src/fix${i}.js`, content: `export const fix = ${i};\n` })], stop_reason: 'tool_use' },
          { content: [tool(`propose${i}`, 'propose', { summary: `fix number ${i}` })], stop_reason: 'tool_use' },
        );
        const seen = Math.max(0, ...kairosJson<TaskJson[]>(['tasks'], h.env).map((t) => t.id));
        assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'fix'], h.env).code, 0);
        const t = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((x) => x.id > seen && x.kind === 'agent' && ['proposed', 'failed', 'done'].includes(x.state)), { what: `agent task ${i}`, timeoutMs: 90_000 }).catch((e: Error) => {
          throw new Error(`${e.message}\ndaemon: ${d?.output()}`);
        });
        assert.equal(t.state, 'proposed', `${t.state}: ${t.reason}`);
        proposals.push({ id: t.proposal!.id, hash: t.proposal!.hash, approval: t.approval_id! });
      }
      // approve + apply, then undo; deny; a reload.
      const [p1, p2] = proposals as [(typeof proposals)[0], (typeof proposals)[0]];
      const ok = kairos(['approve', p1.approval, '--hash', p1.hash], h.env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(kairos(['undo', p1.id], h.env).code, 0);
      assert.equal(kairos(['deny', p2.approval, '--reason', 'not this one'], h.env).code, 0);
      d.kill('SIGHUP');
      await waitFor(() => kairosJson<Row[]>(['audit', '--limit', '100'], h.env).some((r) => r.what === 'policy reload: user policy'), { what: 'the reload audited' });
      d.kill('SIGTERM');
      await d.exited;
      d = undefined;
    } finally {
      if (d) {
        d.kill('SIGTERM');
        await d.exited;
      }
    }

    // The third approval runs out while the daemon is stopped (its expiry moved into the past, as
    // a day passing would), and the user applies it by hand with the hash they saw.
    const p3 = proposals[2]!;
    const db = new Database(path.join(h.home, 'kairos.db'));
    db.prepare('UPDATE approvals SET expires_at = ? WHERE id = ?').run(new Date(Date.now() - 60_000).toISOString(), p3.approval);
    db.close();
    const tree = treeHash(repo.dir);
    const r = kairos(['apply', p3.id, '--hash', p3.hash], h.env);
    expiredApply = {
      code: r.code,
      stderr: r.stderr,
      approvalState: kairosJson<{ state: string }>(['show', p3.approval], h.env).state,
      treeSame: treeHash(repo.dir) === tree,
    };
    rows = kairosJson<Row[]>(['audit', '--limit', '100000'], h.env).reverse();
  });

  after(async () => {
    await fake?.close();
    repo?.cleanup();
    h?.cleanup();
  });

  /** The rows of the evaluation whose row for `layer` matches, by layer. */
  function evaluation(what: RegExp, extra: (r: Row) => boolean = () => true): Map<string, Row> {
    const hit = rows.find((r) => what.test(r.what) && extra(r));
    assert.ok(hit, `no audit row for ${what}; have:\n${[...new Set(rows.map((r) => r.what))].join('\n')}`);
    const ev = rows.filter((r) => r.eval_id === hit.eval_id);
    assert.deepEqual(ev.map((r) => r.layer), LAYERS, `${hit.what}: one row per layer, in order`);
    return new Map(ev.map((r) => [r.layer, r]));
  }
  const verdicts = (ev: Map<string, Row>): string[] => LAYERS.map((l) => ev.get(l)!.verdict);

  test('apply --hash on an expired approval with the daemon stopped is refused, and the approval is expired', () => {
    assert.notEqual(expiredApply.code, 0);
    assert.match(expiredApply.stderr, /expired at .* and can no longer be approved/);
    assert.doesNotMatch(expiredApply.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(expiredApply.approvalState, 'expired');
    assert.ok(expiredApply.treeSame, "the user's tree changed");
  });

  test("a trigger's command and its task start: real trust and gate rows, n/a where nothing was decided", () => {
    const run = evaluation(/^run node check\.js$/);
    assert.deepEqual(verdicts(run), ['allow', 'allow', 'allow', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.match(run.get('trust')!.reason ?? '', /the user's own trigger/);
    assert.match(run.get('permission')!.reason ?? '', /trigger's own command/);
    const start = evaluation(/^start command task$/);
    assert.deepEqual(verdicts(start), ['allow', 'allow', 'allow', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.match(start.get('gate')!.reason ?? '', /asked for now by the user \(kairos poke\)/);
  });

  test('a model call: the spend row is the ledger reservation', () => {
    const m = evaluation(/^model claude-sonnet-4-6 \(\d+\+\d+ tokens\)$/);
    assert.deepEqual(verdicts(m), ['n/a', 'n/a', 'n/a', 'allow', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.match(m.get('spend')!.reason ?? '', /^reserved \$\d+\.\d+ for \d+ output tokens \(reservation \d+, priced as claude-sonnet-4-6\)$/);
    assert.ok(m.get('spend')!.task_id! > 0);
  });

  test('agent tool calls: spend n/a; a call a hook blocked is recorded as the hook decided it', () => {
    const read = evaluation(/^Read\(src\/a\.js\)$/);
    assert.deepEqual(verdicts(read), ['allow', 'allow', 'allow', 'n/a', 'allow', 'n/a', 'allow', 'allow']);
    const blocked = evaluation(/^Bash\(node --test test\/\)$/);
    assert.deepEqual(verdicts(blocked), ['n/a', 'n/a', 'n/a', 'n/a', 'deny', 'n/a', 'n/a', 'n/a']);
    assert.equal(blocked.get('permission')!.rule, 'PreToolUse hook');
    assert.match(blocked.get('permission')!.reason ?? '', /blocked by a PreToolUse hook: no commands in this test/);
    assert.equal(blocked.get('permission')!.final, 'deny');
  });

  test('approve, apply, undo, deny and expire each leave their rows', () => {
    const [p1, p2, p3] = proposals as [(typeof proposals)[0], (typeof proposals)[0], (typeof proposals)[0]];
    const approve = evaluation(new RegExp(`^approve approval ${p1.approval} \\(proposal ${p1.id}\\) via cli$`));
    assert.deepEqual(verdicts(approve), ['allow', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'allow', 'n/a']);
    const apply = evaluation(new RegExp(`^apply to user-tree: proposal ${p1.id} \\(approval ${p1.approval}\\)$`));
    assert.deepEqual([apply.get('validate')!.verdict, apply.get('approval')!.verdict, apply.get('validate')!.origin], ['allow', 'allow', 'user']);
    const undo = evaluation(new RegExp(`^undo proposal ${p1.id}$`));
    assert.deepEqual([undo.get('validate')!.verdict, undo.get('approval')!.verdict], ['allow', 'allow']);
    const deny = evaluation(new RegExp(`^deny approval ${p2.approval} `));
    assert.deepEqual(verdicts(deny), ['n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'deny', 'n/a']);
    assert.match(deny.get('approval')!.reason ?? '', /denied via cli: not this one/);
    const expire = evaluation(new RegExp(`^expire approval ${p3.approval} `));
    assert.deepEqual([expire.get('approval')!.verdict, expire.get('approval')!.origin], ['deny', 'daemon']);
    const refused = evaluation(new RegExp(`^approve approval ${p3.approval} `));
    assert.equal(refused.get('approval')!.verdict, 'deny');
    assert.match(refused.get('approval')!.reason ?? '', /expired/);
  });

  test('trust and reloads leave their rows', () => {
    const trust = evaluation(/^trust repository \(pinned [0-9a-f]{12}\)$/);
    assert.deepEqual([trust.get('trust')!.verdict, trust.get('trust')!.origin, trust.get('trust')!.repo], ['allow', 'user', repo.dir]);
    const user = evaluation(/^policy reload: user policy$/);
    assert.equal(user.get('validate')!.verdict, 'allow');
    const repoReload = evaluation(/^policy reload: repository policy \(reload\): trusted$/);
    assert.equal(repoReload.get('trust')!.verdict, 'allow');
  });

  test('no layer ever says a made-up allow for spend outside model calls', () => {
    for (const r of rows) if (r.layer === 'spend' && r.verdict !== 'n/a') assert.match(r.what, /^model /, `${r.id}: ${r.what}`);
  });

  test('the chain the daemon wrote verifies, with the real CLI and in doctor', () => {
    const v = kairos(['audit', 'verify'], h.env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`audit chain intact: ${rows.length} rows`));
    // The head the daemon wrote to the daily log when it stopped is in the chain: a copy outside the database.
    const logs = fs.readdirSync(path.join(h.home, 'logs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md'));
    const anchors = logs.flatMap((f) => [...fs.readFileSync(path.join(h.home, 'logs', f), 'utf8').matchAll(/audit head: row (\d+) \(\d+ rows from \d+\), sha256 ([0-9a-f]{64})/g)]);
    assert.ok(anchors.length >= 2, `start and stop anchors: ${anchors.map((a) => a[0]).join(' | ')}`);
    const hashes = new Map(kairosJson<Array<Row & { hash: string }>>(['audit', '--limit', '100000'], h.env).map((r) => [r.id, r.hash]));
    for (const a of anchors) assert.equal(hashes.get(Number(a[1])), a[2], a[0]);
    const doc = kairos(['doctor', '--json'], h.env);
    const check = (JSON.parse(doc.stdout) as Array<{ name: string; status: string }>).find((c) => c.name === 'audit');
    assert.equal(check?.status, 'ok');
    // Readable listing, filtered by task.
    const task = rows.find((r) => r.task_id !== null)!.task_id!;
    const listed = kairos(['audit', '--task', String(task)], h.env);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /^id\s+at\s+task\s+layer\s+verdict\s+final\s+what\s+why/);
    assert.ok(kairosJson<Row[]>(['audit', '--task', String(task)], h.env).every((r) => r.task_id === task));
  });

  /** A copy of the home to tamper with: every case starts from the chain the daemon wrote. */
  function tampered(change: (db: Database.Database) => void): { verify: ReturnType<typeof kairos>; doctor: ReturnType<typeof kairos>; verifyJson: { ok: boolean; problem?: { kind: string; id: number; message: string } } } {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-tamper-'));
    try {
      fs.cpSync(h.home, copy, { recursive: true });
      const db = new Database(path.join(copy, 'kairos.db'));
      // Kairos's own append-only triggers are no obstacle to someone with the file: drop them first.
      db.exec('DROP TRIGGER audit_append_only; DROP TRIGGER audit_no_delete;');
      change(db);
      db.close();
      const env = { ...h.env, KAIROS_HOME: copy };
      return { verify: kairos(['audit', 'verify'], env), doctor: kairos(['doctor'], env), verifyJson: JSON.parse(kairos(['audit', 'verify', '--json'], env).stdout) };
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }

  function assertCaught(t: ReturnType<typeof tampered>, kind: string, id: number | null, message: RegExp): void {
    assert.equal(t.verify.code, 1, t.verify.stdout);
    assert.match(t.verify.stdout, message);
    assert.deepEqual([t.verifyJson.ok, t.verifyJson.problem?.kind], [false, kind]);
    if (id !== null) assert.equal(t.verifyJson.problem?.id, id);
    assert.equal(t.doctor.code, 1);
    assert.match(t.doctor.stdout, /FAIL\s+audit\s+hash chain broken/);
  }

  test('verify names a row edited from deny to allow', () => {
    const denied = rows.find((r) => r.verdict === 'deny' && r.what.startsWith('deny approval'))!;
    assertCaught(tampered((db) => db.prepare("UPDATE audit SET verdict = 'allow', final = 'allow' WHERE id = ?").run(denied.id)), 'changed', denied.id, new RegExp(`row ${denied.id} was changed: its content no longer matches its hash`));
  });

  test('verify names an inserted row, even one with a valid-looking link and hash', () => {
    const last = rows.at(-1)!;
    assertCaught(
      tampered((db) => {
        const prev = db.prepare('SELECT * FROM audit WHERE id = ?').get(last.id) as Record<string, string | number | null>;
        const forged = { ...prev, what: 'approve approval zzz via cli', verdict: 'allow', reason: 'forged', eval_id: 'forged' };
        db.prepare(
          `INSERT INTO audit (at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id, prev_hash, hash)
           VALUES (@at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id, @prev_hash, @hash)`,
        ).run({ ...forged, id: undefined, prev_hash: prev.hash, hash: rowHash(forged as never, String(prev.hash)) });
      }),
      'inserted',
      last.id + 1,
      new RegExp(`row ${last.id + 1} was inserted`),
    );
  });

  test('verify names a row deleted in the middle, and rows deleted from the tail', () => {
    const middle = rows[Math.floor(rows.length / 2)]!.id;
    assertCaught(tampered((db) => db.prepare('DELETE FROM audit WHERE id = ?').run(middle)), 'deleted', middle, new RegExp(`row ${middle} was deleted`));
    const last = rows.at(-1)!.id;
    assertCaught(tampered((db) => db.prepare('DELETE FROM audit WHERE id > ?').run(last - 3)), 'deleted', last - 2, new RegExp(`rows ${last - 2}–${last} were deleted from the end`));
  });

  test('a chain rewritten wholesale (every hash after the edit recomputed, the head too) is caught by the heads anchored in the daily log', () => {
    const denied = rows.find((r) => r.verdict === 'deny' && r.what.startsWith('deny approval'))!;
    const t = tampered((db) => {
      db.prepare("UPDATE audit SET verdict = 'allow' WHERE id = ?").run(denied.id);
      let prev = (db.prepare('SELECT prev_hash FROM audit WHERE id = ?').get(denied.id) as { prev_hash: string }).prev_hash;
      for (const r of db.prepare('SELECT * FROM audit WHERE id >= ? ORDER BY id').all(denied.id) as Array<Record<string, string | number | null>>) {
        const hash = rowHash(r as never, prev);
        db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?').run(prev, hash, r.id);
        prev = hash;
      }
      db.prepare('UPDATE audit_head SET hash = ? WHERE id = 1').run(prev);
    });
    assertCaught(t, 'rewritten', null, /daily log .*\.md anchored row \d+ with sha256 [0-9a-f]{16}…, but the table's row \d+ now hashes to .*: the chain was rewritten/);
    assert.ok(t.verifyJson.problem!.id > denied.id);
  });
});
