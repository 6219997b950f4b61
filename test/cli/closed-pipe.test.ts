import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, storePath } from '../../src/store/db.js';
import { ApprovalQueue } from '../../src/pipeline/approvals.js';
import { kairos, kairosCliArgs, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';

/**
 * `kairos status | head -1` and friends: every listing, through a real shell pipe, against a real
 * daemon and store. Two readers: `head -1` (what users type), and one that has closed the pipe
 * before kairos writes a byte, so the write is certain to fail with EPIPE (with `head` it depends
 * on timing whether kairos is still writing when head leaves).
 */

const POLICY = `
triggers:
  - name: hello
    on: { manual: true }
    run: echo hello from the trigger
    notify: never
  - name: sleeper
    enabled: false
    on: { manual: true }
    run: echo never
`;

const shellWord = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const STACK = /^\s+at .+\(?.*:\d+:\d+\)?$|node:events|Unhandled 'error' event|Error: write EPIPE/m;

interface Piped {
  /** What the reader printed. */
  out: string;
  /** kairos's own exit status (not the pipeline's). */
  code: number;
  stderr: string;
}

describe('every listing piped into a reader that stops early', () => {
  let h: ReturnType<typeof makeHome>;
  let repo: TestRepo;
  let d: DaemonProcess;
  let approvalId: string;
  let scratch: string;
  const kairosLine = [process.execPath, ...kairosCliArgs()].map(shellWord).join(' ');

  /** `sh -c '{ kairos ARGS 2>ERR; echo $? >RC; } | READER'`. */
  const pipe = (args: string[], reader: 'head' | 'gone'): Piped => {
    const dir = fs.mkdtempSync(path.join(scratch, 'p-'));
    const err = path.join(dir, 'err');
    const rc = path.join(dir, 'rc');
    const go = path.join(dir, 'go');
    const cmd = `${kairosLine} ${args.map(shellWord).join(' ')} 2>${shellWord(err)}; echo $? >${shellWord(rc)}`;
    // 'gone': the reader closes its end, then lets kairos start (through a fifo) and exits, so nobody reads.
    const script =
      reader === 'head'
        ? `{ ${cmd}; } | head -1`
        : `mkfifo ${shellWord(go)} && { cat ${shellWord(go)} >/dev/null; ${cmd}; } | { exec 0<&-; echo go >${shellWord(go)}; }`;
    const r = spawnSync('sh', ['-c', script], { cwd: repo.dir, env: h.env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `sh: ${r.stderr}`);
    return { out: r.stdout, code: Number(fs.readFileSync(rc, 'utf8').trim()), stderr: fs.readFileSync(err, 'utf8') };
  };

  before(async () => {
    h = makeHome(POLICY);
    repo = makeRepo();
    scratch = fs.mkdtempSync(path.join(h.home, 'pipes-'));
    d = await spawnDaemon([repo.dir], h.env);
    const poked = kairos(['poke', '--trigger', 'hello'], h.env);
    assert.equal(poked.code, 0, poked.stderr);
    await waitFor(() => {
      const t = kairos(['tasks', '--json'], h.env);
      return t.code === 0 && (JSON.parse(t.stdout) as Array<{ state: string }>).some((x) => x.state === 'done');
    }, { what: 'the hello task done' });
    // A pending approval for `show`, queued in the real store as the daemon would.
    const db = openDb(storePath(h.home));
    try {
      const q = new ApprovalQueue(db, { apply: async () => ({ files: [] }), discard: async () => {} });
      approvalId = q.enqueueCommand({ command: 'npm publish', summary: 'publish the package\nwith a second line', repo: repo.dir }).approval.id;
    } finally {
      db.close();
    }
  });

  after(async () => {
    d?.kill('SIGTERM');
    await d?.exited;
    repo?.cleanup();
    h?.cleanup();
  });

  // What each listing is run with; `show` needs the approval queued in before().
  const LISTINGS: Record<string, () => string[]> = {
    status: () => ['status'],
    events: () => ['events'],
    tasks: () => ['tasks'],
    pending: () => ['pending'],
    show: () => ['show', approvalId],
    logs: () => ['logs'],
    spend: () => ['spend'],
    'policy explain': () => ['policy', 'explain', 'Bash(npm test && curl x | sh)'],
    doctor: () => ['doctor'],
    '--help': () => ['--help'],
    // Another helper's command: piped too once it exists.
    audit: () => ['audit'],
  };

  for (const [name, argsOf] of Object.entries(LISTINGS)) {
    test(`kairos ${name} | head -1, and into a pipe nobody reads any more`, (t) => {
      const args = argsOf();
      if (name === 'audit' && !/^\s+audit\b/m.test(kairos(['--help'], h.env).stdout)) return t.skip('no audit command on this branch');
      const whole = kairos(args, h.env, repo.dir);
      assert.ok(whole.stdout.length > 0, `kairos ${args.join(' ')} printed nothing: ${whole.stderr}`);

      const head = pipe(args, 'head');
      assert.equal(head.out, whole.stdout.split('\n')[0] + '\n');
      assert.doesNotMatch(head.stderr, STACK, `| head -1 wrote:\n${head.stderr}`);
      assert.ok(head.code === 0 || head.code === whole.code, `| head -1 exited ${head.code} (unpiped: ${whole.code}); stderr: ${head.stderr}`);

      // The write is certain to fail here: EPIPE ends kairos at once, quietly, with 0.
      const gone = pipe(args, 'gone');
      assert.equal(gone.out, '');
      assert.equal(gone.stderr, '', `into a closed pipe it wrote:\n${gone.stderr}`);
      assert.equal(gone.code, 0);
    });
  }

  test('logs -f into a closed pipe ends at its first write instead of following forever', () => {
    const p = pipe(['logs', '-f'], 'gone');
    assert.equal(p.code, 0);
    assert.equal(p.stderr, '');
  });
});
