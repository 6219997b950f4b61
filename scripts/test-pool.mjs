// Runs test files in a few long-lived worker processes (scripts/test-worker.mjs) instead of one
// process per file, and prints each finished file as one block with node's spec reporter.
//
// - Files are handed out one at a time, slowest first, to whichever worker is free.
// - A file in `alone` gets a fresh worker of its own (it changes something a later file would see).
// - A worker that dies mid-file (process.exit, a fatal error, a signal) is replaced, and the file it
//   was running is run again in a worker of its own, so its failure is its own and not a neighbour's.
// - Each file has a timeout (its describe()'s); a file that hangs past it anyway gets its worker killed.
// - A worker that does not exit once its files are done (a handle left open) is killed and named.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spec } from 'node:test/reporters';
import { frameReader } from './test-worker-wire.mjs';

const WORKER = fileURLToPath(new URL('./test-worker.mjs', import.meta.url));
const REPORTER = new URL('./test-worker-reporter.mjs', import.meta.url).href;
const EXIT_GRACE_MS = 20_000;
const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/;

export async function runPool(files, { workers, timeoutMs, env, alone = new Set() }) {
  const startedAt = performance.now();
  const out = new spec();
  const printed = new Promise((resolve) => out.on('end', resolve));
  out.on('data', (text) => process.stdout.write(text));
  const counts = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  const perFile = new Map(); // file → { wallMs, cpuMs, childCpuMs }
  const problems = []; // failures that belong to no test (a worker that would not exit, …)
  const queue = [...files];
  const fileNames = new Set(files);

  function show(events) {
    for (const event of events) {
      const d = event.data ?? {};
      if (event.type === 'test:diagnostic' && d.nesting === 0 && SUMMARY.test(d.message)) continue;
      if ((event.type === 'test:pass' || event.type === 'test:fail') && d.nesting > 0) {
        if (d.details?.type === 'suite') counts.suites++;
        else {
          counts.tests++;
          if (d.skip !== undefined && d.skip !== false) counts.skipped++;
          else if (d.todo !== undefined && d.todo !== false) counts.todo++;
          else if (event.type === 'test:pass') counts.pass++;
          else if (d.details?.error?.failureType === 'cancelledByParent') counts.cancelled++;
          else counts.fail++;
        }
      }
      if (event.type === 'test:fail' && d.nesting === 0) counts.failedFiles = (counts.failedFiles ?? 0) + 1;
      // A test outside every file's suite, or one whose parent had already finished: its file lost
      // node:test's context (code after a top-level await of a promise another file created).
      const strayed = d.nesting === 0 && (event.type === 'test:pass' || event.type === 'test:fail') && !fileNames.has(d.name);
      const orphaned = event.type === 'test:fail' && String(d.details?.error?.cause ?? d.details?.error?.message ?? '').startsWith('test could not be started because its parent finished');
      if ((strayed || orphaned) && !problems.some((p) => p.startsWith('a test ran outside'))) {
        problems.push(`a test ran outside its file's suite ('${d.name}'): a top-level await of a promise another test file created loses node:test's file context; await it in before() instead`);
      }
      out.write(event);
    }
  }

  // A failure node:test never saw (the process died or hung): shown as the file's own failure.
  function fileFailed(file, message, durationMs) {
    counts.tests++;
    counts.fail++;
    show([{ type: 'test:fail', data: { name: file, nesting: 0, file: resolve(file), line: 1, column: 1, testNumber: 0, details: { duration_ms: durationMs, type: 'test', error: new Error(message) } } }]);
  }

  function spawnWorker() {
    const child = spawn(process.execPath, [`--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', WORKER], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      env,
    });
    const worker = { child, files: [], output: '', waiting: null, exited: null, frames: [] };
    // What the tests print themselves goes with the file it came during.
    child.stdout.on('data', (c) => (worker.output += c));
    child.stderr.on('data', (c) => (worker.output += c));
    child.stdio[4].on('data', frameReader((frame) => {
      if (worker.waiting && frame.file === worker.waiting.file) worker.waiting.resolve({ frame });
      else worker.frames.push(frame); // events after the last file ended
    }));
    worker.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    worker.exited.then((exit) => {
      worker.exit = exit;
      worker.waiting?.resolve({ exit });
    });
    // A worker that died between files: the next command's write fails, and runFile sees worker.exit.
    child.stdio[3].on('error', () => {});
    return worker;
  }

  function takeOutput(worker) {
    const text = worker.output;
    worker.output = '';
    return text ? [{ type: 'test:stdout', data: { nesting: 0, message: text.endsWith('\n') ? text : `${text}\n` } }] : [];
  }

  async function runFile(worker, file) {
    worker.files.push(file);
    const fileStartedAt = performance.now();
    const result = await new Promise((resolve) => {
      if (worker.exit) return resolve({ exit: worker.exit });
      worker.waiting = { file, resolve };
      worker.child.stdio[3].write(`${JSON.stringify({ file, timeoutMs })}\n`);
    });
    worker.waiting = null;
    if (result.frame) {
      const { events, wallMs, cpuMs, childCpuMs, changed } = result.frame;
      perFile.set(file, { wallMs, cpuMs, childCpuMs });
      const notes = changed?.length
        ? [{ type: 'test:diagnostic', data: { nesting: 0, message: `${file} left ${changed.join(', ')} changed; put back before the next file` } }]
        : [];
      show([...takeOutput(worker), ...events, ...notes]);
      return 'done';
    }
    show(takeOutput(worker));
    return result.timedOut ? 'timed out' : { ...result.exit, ms: Math.round(performance.now() - fileStartedAt) };
  }

  // A hung file has a watchdog beyond its own timeout (a top-level await that never settles).
  async function runWithWatchdog(worker, file) {
    let timer;
    const watchdog = new Promise((resolve) => {
      timer = setTimeout(() => {
        worker.child.kill('SIGKILL');
        resolve('timed out');
      }, timeoutMs + 60_000);
    });
    const result = await Promise.race([runFile(worker, file), watchdog]);
    clearTimeout(timer);
    if (result === 'timed out') fileFailed(file, `did not finish within ${timeoutMs / 1000} s (its timeout) and a minute more: its process was killed`, timeoutMs);
    return result;
  }

  async function retire(worker) {
    worker.child.stdio[3].end();
    const exit = await Promise.race([worker.exited, new Promise((r) => setTimeout(() => r(null), EXIT_GRACE_MS))]);
    for (const frame of worker.frames) show(frame.events);
    show(takeOutput(worker));
    if (exit === null) {
      worker.child.kill('SIGKILL');
      problems.push(`a test process did not exit ${EXIT_GRACE_MS / 1000} s after its last file (a timer, socket or child process left open by one of: ${worker.files.join(', ')})`);
    } else if (worker.frames.some((f) => f.events.some((e) => e.type === 'test:fail'))) {
      problems.push(`a test failed after its file had ended, in the process that ran: ${worker.files.join(', ')}`);
    }
  }

  async function slot() {
    let worker = null;
    while (queue.length) {
      const file = queue.shift();
      if (alone.has(file)) {
        const own = spawnWorker();
        if ((await runWithWatchdog(own, file)) === 'done') await retire(own);
        continue;
      }
      worker ??= spawnWorker();
      const ownFiles = worker.files;
      const result = await runWithWatchdog(worker, file);
      if (result === 'done') continue;
      worker = null;
      if (result === 'timed out') continue;
      // The process died during the file: run it again by itself, so the failure lands on the right file.
      // (Said out loud: a file that passes alone after this was hit by something an earlier one left.)
      const earlier = ownFiles.slice(0, -1);
      out.write({ type: 'test:diagnostic', data: { nesting: 0, message: `the test process running ${file} exited (code ${result.code}, signal ${result.signal})${earlier.length ? ` after running ${earlier.join(', ')}` : ''}; running ${file} again in a process of its own` } });
      const own = spawnWorker();
      const again = await runWithWatchdog(own, file);
      if (again === 'done') await retire(own);
      else if (again !== 'timed out') fileFailed(file, `its test process exited (code ${again.code}, signal ${again.signal}) before the file finished, also when run alone`, again.ms);
    }
    if (worker) await retire(worker);
  }

  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, files.length)) }, slot));
  for (const problem of problems) {
    counts.fail++;
    out.write({ type: 'test:diagnostic', data: { nesting: 0, message: `✖ ${problem}` } });
  }
  const durationMs = performance.now() - startedAt;
  for (const key of ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo']) {
    out.write({ type: 'test:diagnostic', data: { nesting: 0, message: `${key} ${counts[key]}` } });
  }
  out.write({ type: 'test:diagnostic', data: { nesting: 0, message: `duration_ms ${durationMs.toFixed(0)}` } });
  out.end();
  await printed;
  return { ok: counts.fail === 0 && counts.cancelled === 0 && !counts.failedFiles, perFile };
}
