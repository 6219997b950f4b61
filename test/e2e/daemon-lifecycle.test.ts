import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type CliResult } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { isAlive } from '../support/process.js';

const POLICY = `
triggers:
  - name: on-src
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: 'echo "task $KAIROS_TASK_ID"; cat "$KAIROS_CHANGED_FILES"; echo; echo "$KAIROS_TASK_ID" >> "$KAIROS_HOME/ran.txt"'
    notify: always
  - name: on-commit
    on: { git: [commit] }
    settle_ms: 100
    run: 'git log -1 --format=%s'
    notify: never
`;

interface TaskJson { id: number; trigger: string; state: string; exit_code: number | null; output: string; paths: string[] }
interface EventJson { id: number; type: string; repo: string; at: string; path?: string }

/**
 * Each test starts its own daemon (`kairos start`) on its own home and repository, and stops it
 * afterwards: none depends on another having run first.
 */
async function withStartedDaemon(fn: (h: ReturnType<typeof makeHome>, repo: TestRepo, start: CliResult) => void | Promise<void>): Promise<void> {
  const h = makeHome(POLICY);
  const repo = makeRepo();
  try {
    repo.write('src/a.ts', 'export const a = 1;\n');
    repo.git('add', '.');
    repo.git('commit', '-m', 'init');
    const start = kairos(['start', '--repo', repo.dir], h.env);
    assert.equal(start.code, 0, start.stderr);
    await fn(h, repo, start);
  } finally {
    kairos(['stop'], h.env);
    repo.cleanup();
    h.cleanup();
  }
}

describe('daemon lifecycle (real process, real repo)', () => {
  test('start returns once ready; the socket is private; status names the repo; model steps are off without a key', () =>
    withStartedDaemon((h, repo, r) => {
      assert.match(r.stdout, /daemon started \(pid \d+\)/);
      const mode = fs.statSync(path.join(h.home, 'kairos.sock')).mode & 0o777;
      assert.equal(mode, 0o600);
      const s = kairosJson<{ pid: number; repos: Array<{ path: string; triggers: string[] }>; model_steps: { enabled: boolean; reason: string } }>(['status'], h.env);
      assert.equal(s.repos[0]!.path, repo.dir);
      assert.deepEqual(s.repos[0]!.triggers, ['on-src', 'on-commit']);
      assert.equal(s.model_steps.enabled, false);
      assert.match(s.model_steps.reason, /ANTHROPIC_API_KEY/);
    }));

  test('a second daemon on the same home is refused while the first runs', () =>
    withStartedDaemon((h, repo) => {
      const r = kairos(['run', '--repo', repo.dir], h.env);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /another Kairos daemon \(pid \d+\) already runs/);
    }));

  test('editing a file fires the trigger once the burst settles; result, log and notification are recorded', () =>
    withStartedDaemon(async (h, repo) => {
      for (let i = 0; i < 5; i++) repo.write(`src/new${i}.ts`, `export const n = ${i};\n`);
      repo.write('README.md', 'not watched by the trigger\n');
      const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'on-src' && t.state === 'done'), { what: 'on-src task done' });
      assert.equal(task.exit_code, 0);
      for (let i = 0; i < 5; i++) {
        assert.ok(task.paths.includes(`src/new${i}.ts`), `batch has src/new${i}.ts`);
        assert.match(task.output, new RegExp(`src/new${i}\\.ts`));
      }
      assert.ok(!task.paths.includes('README.md'));
      const events = kairosJson<EventJson[]>(['events', '--limit', '1000'], h.env);
      assert.ok(events.some((e) => e.type === 'file.added' && e.path === 'src/new0.ts' && e.repo === repo.dir && typeof e.id === 'number' && e.at));
      assert.ok(events.some((e) => e.path === 'README.md'), 'every change is stored, matched or not');
      const day = new Date();
      const logFile = path.join(h.home, 'logs', String(day.getFullYear()), String(day.getMonth() + 1).padStart(2, '0'),
        `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}.md`);
      await waitFor(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes(`on-src (task ${task.id})`), { what: 'daily log bullet' });
      await waitFor(() => {
        const f = path.join(h.home, 'notifications.jsonl');
        return fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('on-src passed');
      }, { what: 'notification record' });
      const logs = kairos(['logs'], h.env);
      assert.equal(logs.code, 0);
      assert.match(logs.stdout, /on-src/);
    }));

  test('a commit is a git.commit event and fires git triggers', () =>
    withStartedDaemon(async (h, repo) => {
      repo.write('README.md', 'a change to commit\n');
      repo.git('add', '.');
      repo.git('commit', '-m', 'second');
      await waitFor(() => kairosJson<EventJson[]>(['events', '--type', 'git.commit'], h.env).length > 0, { what: 'git.commit event' });
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).some((t) => t.trigger === 'on-commit' && t.state === 'done'), { what: 'on-commit task' });
    }));

  test('stop shuts down cleanly: pid gone, lock and socket released', () =>
    withStartedDaemon((h) => {
      const pid = kairosJson<{ pid: number }>(['status'], h.env).pid;
      const r = kairos(['stop'], h.env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(isAlive(pid), false);
      assert.equal(fs.existsSync(path.join(h.home, 'kairos.pid')), false);
      assert.equal(fs.existsSync(path.join(h.home, 'kairos.sock')), false);
      assert.equal(kairos(['status'], h.env).code, 1);
    }));

  test('a commit made while the daemon was down is reported on the next start', () =>
    withStartedDaemon(async (h, repo) => {
      assert.equal(kairos(['stop'], h.env).code, 0);
      repo.write('src/offline.ts', 'x\n');
      repo.git('add', '.');
      repo.git('commit', '-m', 'made while kairos was stopped');
      const before = kairosJson<EventJson[]>(['events', '--type', 'git.commit'], h.env).length;
      const d = await spawnDaemon([], h.env); // no --repo: resumes the repositories it watched
      try {
        await waitFor(() => kairosJson<EventJson[]>(['events', '--type', 'git.commit'], h.env).length > before, { what: 'reconciled commit' });
      } finally {
        d.kill('SIGTERM');
        assert.equal(await d.exited, 0);
      }
    }));
});

describe('CLI arguments', () => {
  const h = makeHome();
  after(() => h.cleanup());
  test('--help explains the commands; bad arguments name the fix', () => {
    const help = kairos(['--help'], h.env);
    assert.equal(help.code, 0);
    for (const c of ['start', 'run', 'stop', 'status', 'poke', 'events', 'tasks', 'logs', 'policy', 'trust', 'doctor']) assert.match(help.stdout, new RegExp(`\\n  ${c}\\b`));
    const badLimit = kairos(['events', '--limit', 'lots'], h.env);
    assert.notEqual(badLimit.code, 0);
    assert.match(badLimit.stderr, /--limit lots: expected a whole number/);
    const notRepo = kairos(['start', '--repo', h.home], h.env);
    assert.notEqual(notRepo.code, 0);
    assert.match(notRepo.stderr, /not inside a git repository/);
    const noDaemon = kairos(['poke'], h.env);
    assert.equal(noDaemon.code, 3);
    assert.match(noDaemon.stderr, /no Kairos daemon is running/);
  });
});
