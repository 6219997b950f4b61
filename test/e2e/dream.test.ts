import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { kairos, kairosCliArgs, kairosJson, scenario, spawnDaemon, waitFor, withDaemon, type CliResult } from '../support/kairos.js';
import { labelledTriage, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { memoryPath } from '../../src/pipeline/memory.js';
import type { TestRepo } from '../support/git-repo.js';

/**
 * The dream through the real daemon: on demand (`kairos dream`), and a scheduled run missed while
 * the daemon was down caught up once on the next start. The fake Messages API answers triage with
 * "sleep" (so a poke leaves an event and a daily-log entry to dream about) and the dream with a memory.
 */

const MEMORY_TEXT = '# app memory\n- the grammar build is fragile: run npm run build:grammar after editing grammar/\n';
const policy = (cron: string): string => `models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }\nbudget: { day_usd: 5 }\ndream: { cron: "${cron}" }\n`;
/** A schedule that cannot fire during a test (midnight on January 1st). */
const FAR = '0 0 1 1 *';

interface DreamRun { id: number; state: string; reason: string | null }
interface StatusJson { repos: Array<{ path: string; memory: { path: string; exists: boolean; last_dream_at: string | null } }>; dream: { cron: string; next_at: string | null } }

function dreamRuns(home: string): DreamRun[] {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, state, reason FROM dream_runs ORDER BY id').all() as DreamRun[];
  } finally {
    db.close();
  }
}

/** Triage sleeps unless `acting.now` is set; every other request (the dream, an agent turn) gets the memory text. */
async function startFake(acting = { now: false }): Promise<FakeAnthropic> {
  return startFakeAnthropic({
    fallback: labelledTriage(() => (acting.now ? { act: true, why: 'the grammar changed' } : { act: false, why: 'a routine poke' }), { text: MEMORY_TEXT }),
  });
}

function systemText(r: { body?: any }): string {
  const s = r.body?.system;
  return typeof s === 'string' ? s : Array.isArray(s) ? s.map((b: any) => String(b?.text ?? '')).join('\n') : '';
}

/**
 * `kairos dream` without blocking this process: the fake Messages API runs here, and the daemon's
 * dream call to it must be answered while the CLI waits (spawnSync would deadlock them).
 */
function dreamCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...kairosCliArgs(), 'dream', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const dreamRequests = (fake: FakeAnthropic) => fake.messageRequests().filter((r) => systemText(r).startsWith('You keep the long-term memory of Kairos'));
const agentRequests = (fake: FakeAnthropic) => fake.messageRequests().filter((r) => systemText(r).startsWith('You are Kairos, an ambient coding agent'));

/** A poke triage sleeps on: a user event in the store and a line in today's daily log, so there is something to dream about. */
async function somethingHappens(env: NodeJS.ProcessEnv, repo: TestRepo): Promise<void> {
  assert.equal(kairos(['poke', '--repo', repo.dir], env).code, 0);
  await waitFor(() => /slept: a routine poke/.test(kairos(['logs'], env).stdout), { what: 'the triage decision in the daily log', timeoutMs: 60_000 });
}

test('kairos dream rewrites MEMORY.md on demand through the daemon; status, kairos memory and the agent use it', async () => {
  const acting = { now: false };
  const fake = await startFake(acting);
  try {
    await scenario(policy(FAR), async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      await withDaemon([repo.dir], h.env, async () => {
        const before = await dreamCli(['--repo', repo.dir], h.env);
        assert.equal(before.code, 1, 'nothing to dream about yet is not a success');
        assert.match(before.stdout, /no dream for .* \(skipped\): nothing happened since the last dream/);

        await somethingHappens(h.env, repo);
        const r = await dreamCli(['--repo', repo.dir], h.env);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const file = memoryPath(h.home, repo.dir);
        assert.match(r.stdout, /memory rewritten \(2 lines/);
        assert.ok(r.stdout.includes(file), 'the command names the file it wrote');
        assert.equal(fs.readFileSync(file, 'utf8'), MEMORY_TEXT);
        const [req] = dreamRequests(fake);
        assert.equal(dreamRequests(fake).length, 1, 'one dream call');
        assert.equal((req!.body as { model: string }).model, 'claude-haiku-4-5', 'the cheap model');
        assert.match(JSON.stringify(req!.body), /slept: a routine poke/, "the daily log's entry was the dream's input");

        const status = kairos(['status'], h.env);
        assert.ok(status.stdout.includes(`memory: ${file} (last dream `), status.stdout);
        assert.match(status.stdout, /dream: 0 0 1 1 \*, next \d{4}-01-01T/);
        const json = kairosJson<StatusJson>(['status'], h.env);
        assert.equal(json.repos[0]!.memory.path, file);
        assert.equal(json.repos[0]!.memory.exists, true);
        assert.ok(json.repos[0]!.memory.last_dream_at);

        const shown = kairos(['memory', '--repo', repo.dir], h.env);
        assert.equal(shown.stdout, MEMORY_TEXT);
        assert.equal(kairos(['memory', '--repo', repo.dir, '--path'], h.env).stdout, `${file}\n`);
        assert.match(kairos(['logs'], h.env).stdout, /dream \(on demand\): memory rewritten \(2 lines\)/);

        // On demand skips the 24 h gap, not the rest: with nothing new, no second call.
        const again = await dreamCli(['--repo', repo.dir, '--json'], h.env);
        assert.equal(again.code, 1);
        assert.deepEqual(
          (JSON.parse(again.stdout) as Array<{ status: string; reason: string }>).map((x) => [x.status, x.reason]),
          [['skipped', 'nothing happened since the last dream']],
        );
        assert.equal(dreamRequests(fake).length, 1);

        // The agent reads the memory too (fenced as data), not only triage.
        acting.now = true;
        assert.equal(kairos(['poke', '--repo', repo.dir], h.env).code, 0);
        const agent = await waitFor(() => agentRequests(fake)[0], { what: 'the agent task\'s first model request', timeoutMs: 90_000 });
        const prompt = JSON.stringify(agent.body.messages);
        assert.ok(prompt.includes('the grammar build is fragile'), 'MEMORY.md is in the agent\'s prompt');
        assert.match(prompt, /untrusted-data/, 'fenced as untrusted data');
      });
    });
  } finally {
    await fake.close();
  }
});

test('kairos dream says clearly when the daemon is down, and when model steps are off', async () => {
  await scenario(policy(FAR), async ({ h, repo }) => {
    const down = await dreamCli(['--repo', repo.dir], h.env);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /the dream runs in the daemon .* no daemon is running/);
    assert.match(down.stderr, /kairos start --repo DIR/);
    assert.doesNotMatch(down.stderr, /\n\s+at /, 'no stack trace');
    const none = kairos(['memory', '--repo', repo.dir], h.env);
    assert.equal(none.code, 1);
    assert.ok(none.stderr.includes(memoryPath(h.home, repo.dir)), 'says where the memory will be');
    // A model wrote the memory from hostile logs: printing it cannot drive the terminal.
    fs.mkdirSync(path.dirname(memoryPath(h.home, repo.dir)), { recursive: true });
    fs.writeFileSync(memoryPath(h.home, repo.dir), '# m\n- clear\u001b[2J screen\n');
    const shown = kairos(['memory', '--repo', repo.dir], h.env);
    assert.equal(shown.code, 0);
    assert.ok(!shown.stdout.includes('\u001b'), 'no raw escape reaches the terminal');
    assert.match(shown.stdout, /clear.*\[2J screen/);
    fs.rmSync(memoryPath(h.home, repo.dir));

    await withDaemon([repo.dir], h.env, async () => {
      // No API key: the poke is decided without a model, and the dream is skipped with the reason.
      assert.equal(kairos(['poke', '--repo', repo.dir], h.env).code, 0);
      const r = await dreamCli([], h.env);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /no dream for .* \(skipped\): model steps are off/);
      assert.match(kairos(['status'], h.env).stdout, /memory: .*MEMORY\.md \(not written yet: no dream so far; latest run skipped at .*model steps are off/);
      assert.equal(fs.existsSync(memoryPath(h.home, repo.dir)), false);
    });
  });
});

test('a dream missed while the daemon was down runs once on the next start, and not again after that', async () => {
  const fake = await startFake();
  try {
    await scenario(policy(FAR), async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      // First run: the schedule is seen (and recorded) for the first time, and something happens.
      await withDaemon([repo.dir], h.env, () => somethingHappens(h.env, repo));
      assert.deepEqual(dreamRuns(h.home), [], 'no dream while the first daemon ran');

      // While it is down, the schedule is moved to a time that has just passed: that run was missed.
      // (A policy's cron has minute precision: the start of the minute before this one.)
      const missed = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
      const cron = `${missed.getMinutes()} ${missed.getHours()} ${missed.getDate()} ${missed.getMonth() + 1} *`;
      fs.writeFileSync(path.join(h.home, 'policy.yaml'), policy(cron));

      const second = await spawnDaemon([repo.dir], h.env);
      try {
        await waitFor(() => dreamRuns(h.home).some((x) => x.state === 'done'), { what: 'the caught-up dream', timeoutMs: 60_000 });
        assert.equal(fs.readFileSync(memoryPath(h.home, repo.dir), 'utf8'), MEMORY_TEXT);
        // Dreams run one after another: this on-demand one runs after anything the start queued.
        const after = JSON.parse((await dreamCli(['--repo', repo.dir, '--json'], h.env)).stdout) as Array<{ status: string; reason: string }>;
        assert.deepEqual(after.map((x) => x.reason), ['nothing happened since the last dream']);
        assert.deepEqual(dreamRuns(h.home).map((x) => x.state), ['done', 'skipped'], 'exactly one caught-up dream');
        assert.equal(dreamRequests(fake).length, 1);
        assert.match(kairos(['logs'], h.env).stdout, new RegExp(`dream \\(catch-up of the ${missed.toISOString().replace(/\./g, '\\.')} run missed while the daemon was down\\): memory rewritten`));
      } finally {
        second.kill('SIGTERM');
        await second.exited;
      }

      // A third start: the missed run was recorded as run, so nothing is caught up again.
      await withDaemon([repo.dir], h.env, async () => {
        const runsBefore = dreamRuns(h.home).length;
        assert.equal((await dreamCli(['--repo', repo.dir, '--json'], h.env)).code, 1, 'skipped: nothing new');
        assert.equal(dreamRuns(h.home).length, runsBefore + 1, 'only the on-demand run: no second catch-up');
        assert.equal(dreamRequests(fake).length, 1);
      });
    });
  } finally {
    await fake.close();
  }
});
