// Resource limits for real, as the machine runs tests (root on CI): a fork bomb, a 4 GiB
// allocation and an endless loop in bubblewrap, under the strongest backend here and under the
// prlimit fallback. Skipped (with the reason) where bwrap or the backend is missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { detectSandbox, runSandboxed, type SandboxResult, type SandboxRunOptions, type SandboxStatus } from '../../src/policy/sandbox.js';
import { groupPrefix, sweepStaleGroups, type CgroupLayout } from '../../src/policy/sandbox/cgroup.js';
import { tempDir } from '../support/temp.js';

const FORK_BOMB = 'bomb() { bomb | bomb & }; bomb; sleep 60; echo survived';
const ALLOC_4G = `node -e "const a=[];for(let i=0;i<8;i++){a.push(Buffer.alloc(512*1024*1024,1))}console.log('allocated 4 GiB')"; echo "rc=$?"`;
const LOOP = 'while :; do :; done';

/** Processes on the host, sampled every 20 ms while `run` goes on; the highest count. */
async function peakHostProcesses<T>(run: Promise<T>): Promise<{ result: T; peak: number; before: number }> {
  const count = (): number => fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
  const before = count();
  let peak = before;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, count());
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const result = await run;
  done = true;
  await sampler;
  return { result, peak, before };
}

function groupDirs(layout: CgroupLayout | undefined): string[] {
  if (!layout) return [];
  const parents = layout.version === 2 ? [layout.parent] : [layout.pidsParent, layout.memoryParent];
  return parents.flatMap((p) => fs.readdirSync(p).filter((n) => n.startsWith(groupPrefix())).map((n) => path.join(p, n)));
}

describe('sandbox limits', () => {
  const tmp = tempDir('kairos-limits-');
  let status: SandboxStatus;
  let opts: SandboxRunOptions;

  before(() => {
    status = detectSandbox();
    const worktree = path.join(tmp.dir, 'wt');
    fs.mkdirSync(worktree);
    opts = { worktree, home: path.join(tmp.dir, 'home'), kairosHome: path.join(tmp.dir, 'kh'), timeoutMs: 300_000, outputLimit: 20_000, status };
  });
  after(() => tmp.cleanup());

  const needGroup = (t: { skip(msg: string): void }): boolean => {
    if (!status.available) t.skip(`bubblewrap not usable here: ${status.detail}`);
    else if (status.limits?.backend !== 'cgroup1' && status.limits?.backend !== 'cgroup2') t.skip(`no writable cgroup here: ${status.limits?.detail}`);
    else return true;
    return false;
  };

  test('a fork bomb stays within its process limit, is stopped, and its group is removed', async (t) => {
    if (!needGroup(t)) return;
    const { result: r, peak, before } = await peakHostProcesses(runSandboxed(FORK_BOMB, { ...opts, limits: { processes: 64 } }));
    assert.equal(r.limit, 'processes', r.output);
    assert.doesNotMatch(r.output, /survived/);
    assert.ok(r.peakProcesses === undefined || r.peakProcesses <= 64, `pids.peak ${r.peakProcesses}`);
    // Other work on the machine moves the count a little; a bomb without a limit adds thousands.
    assert.ok(peak - before < 64 + 150, `host processes went from ${before} to ${peak}`);
    assert.ok(r.durationMs < 60_000, `stopped when it hit the limit, not by the time limit (${r.durationMs} ms)`);
    assert.deepEqual(groupDirs(status.limits?.cgroup), [], 'the group is removed');
  });

  test('a 4 GiB allocation fails under the 2 GiB default', async (t) => {
    if (!needGroup(t)) return;
    const r = await runSandboxed(ALLOC_4G, opts);
    assert.doesNotMatch(r.output, /allocated 4 GiB/);
    assert.match(r.output, /rc=(137|1)/, r.output);
    assert.equal(r.limit, 'memory');
  });

  test('an endless loop is stopped by the CPU limit long before the 300 s time limit', async (t) => {
    if (!needGroup(t)) return;
    const r = await runSandboxed(LOOP, { ...opts, limits: { cpuSeconds: 2 } });
    assert.equal(r.limit, 'cpu', `${r.exitCode} ${r.signal} ${r.output}`);
    assert.ok(r.durationMs < 60_000, `${r.durationMs} ms`);
  });

  test('policy limits reach the command (sandbox.limits)', async (t) => {
    if (!needGroup(t)) return;
    const r = await runSandboxed('cat /proc/self/limits', { ...opts, settings: { limits: { cpu: '7s', processes: 99, memory: '300MiB' } } });
    assert.match(r.output, /Max cpu time\s+7\s+12\s+seconds/);
    const bomb = await runSandboxed(FORK_BOMB, { ...opts, settings: { limits: { processes: 20 } } });
    assert.equal(bomb.limit, 'processes');
    assert.ok(bomb.peakProcesses === undefined || bomb.peakProcesses <= 20, `pids.peak ${bomb.peakProcesses}`);
  });

  test('groups left by a killed daemon are emptied and removed at the next start', async (t) => {
    if (!needGroup(t)) return;
    const real = status.limits!.cgroup!;
    // A private parent under the real one, so other test processes' start-up sweeps (every
    // detectSandbox sweeps) cannot race this one; sweepStaleGroups is what detectLimits runs.
    const nest = `kairos-test-${process.pid}`;
    const layout: CgroupLayout =
      real.version === 2 ? { version: 2, parent: path.join(real.parent, nest) } : { version: 1, pidsParent: path.join(real.pidsParent, nest), memoryParent: path.join(real.memoryParent, nest) };
    const parents = layout.version === 2 ? [layout.parent] : [layout.pidsParent, layout.memoryParent];
    for (const p of parents) fs.mkdirSync(p);
    // A pid that is certainly gone: a process that has exited.
    const gone = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((r) => gone.on('exit', () => r(gone.pid!)));
    const dirs = parents.map((p) => path.join(p, `${groupPrefix(deadPid)}1`));
    for (const d of dirs) fs.mkdirSync(d);
    // Another container's group (another pid namespace), and a live daemon's: both stay.
    const foreign = path.join(parents[0]!, `kairos-1-${deadPid}-1`);
    const live = path.join(parents[0]!, `${groupPrefix()}999`);
    fs.mkdirSync(foreign);
    fs.mkdirSync(live);
    // A leftover process inside, as a SIGKILLed daemon would leave one.
    const orphan = spawn('/bin/sh', ['-c', `for f in ${dirs.map((d) => `'${d}/cgroup.procs'`).join(' ')}; do echo $$ > "$f"; done; exec sleep 300`], { stdio: 'ignore' });
    const orphanExit = new Promise<string | number | null>((r) => orphan.on('exit', (code, sig) => r(sig ?? code)));
    try {
      for (const d of dirs) {
        const procs = () => fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').trim();
        for (let i = 0; i < 100 && procs() === ''; i++) await new Promise((r) => setTimeout(r, 20));
        assert.notEqual(procs(), '', 'the leftover process joined the stale group');
      }
      sweepStaleGroups(layout);
      assert.equal(await orphanExit, 'SIGKILL', 'the leftover process was killed');
      // The kernel removes a dead process from its group a moment after the exit is reported.
      for (let i = 0; i < 100 && dirs.some((d) => fs.existsSync(d)); i++) {
        await new Promise((r) => setTimeout(r, 20));
        sweepStaleGroups(layout);
      }
      for (const d of dirs) assert.equal(fs.existsSync(d), false, `${d} was removed`);
      assert.ok(fs.existsSync(foreign), "another pid namespace's group is left alone");
      assert.ok(fs.existsSync(live), "a live daemon's group is left alone");
    } finally {
      orphan.kill('SIGKILL');
      await orphanExit;
      for (const d of [...dirs, foreign, live]) {
        for (let i = 0; i < 50 && fs.existsSync(d); i++) {
          try {
            fs.rmdirSync(d);
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
      for (const p of parents) fs.rmdirSync(p);
    }
  });

  describe('the prlimit fallback (forced)', () => {
    let fallback: SandboxStatus;
    before(() => {
      fallback = detectSandbox({ limits: 'prlimit' });
    });
    const needPrlimit = (t: { skip(msg: string): void }): boolean => {
      if (!fallback.available) t.skip(`bubblewrap not usable here: ${fallback.detail}`);
      else if (fallback.limits?.backend !== 'prlimit') t.skip(`prlimit not available: ${fallback.limits?.detail}`);
      else return true;
      return false;
    };
    const run = (cmd: string, extra: Partial<SandboxRunOptions> = {}): Promise<SandboxResult> => runSandboxed(cmd, { ...opts, status: fallback, ...extra });

    test('the rlimits are set on the command', async (t) => {
      if (!needPrlimit(t)) return;
      const r = await run('cat /proc/self/limits', { limits: { processes: 77, cpuSeconds: 9, memoryBytes: 1024 ** 3 } });
      assert.match(r.output, /Max cpu time\s+9\s+14\s+seconds/);
      assert.match(r.output, /Max processes\s+77\s+77\s+processes/);
      assert.match(r.output, /Max address space\s+1073741824\s+1073741824\s+bytes/);
    });

    test('a 4 GiB allocation fails, an endless loop is stopped by CPU time, a fork storm is stopped', async (t) => {
      if (!needPrlimit(t)) return;
      const alloc = await run(ALLOC_4G);
      assert.doesNotMatch(alloc.output, /allocated 4 GiB/);
      assert.match(alloc.output, /rc=[1-9]/);
      const loop = await run(LOOP, { limits: { cpuSeconds: 2 } });
      assert.equal(loop.limit, 'cpu');
      assert.ok(loop.durationMs < 60_000);
      // As root the kernel ignores RLIMIT_NPROC and only the watchdog stops it, late: a real fork bomb
      // would fill the host's process table before that (measured: ~30,000 tasks), so this storm is
      // bounded. The group backends above hold exactly, which is why they come first.
      const storm = await run('for i in $(seq 1 100); do sleep 30 & done; wait; echo survived', { limits: { processes: 32 } });
      assert.doesNotMatch(storm.output, /survived/);
      if (process.getuid?.() === 0) assert.equal(storm.limit, 'processes');
      else assert.ok(storm.limit === 'processes' || /fork/i.test(storm.output), storm.output);
    });
  });
});
