#!/usr/bin/env node
// One long-lived test process of scripts/run-tests.mjs's pool: it runs many compiled test files, one
// after another, so ~100 unit files cost a few Node start-ups instead of ~100 (a start-up with the
// test runner and the project's imports is ~0.3 s of CPU).
//
// Started as: node --test-reporter=<test-worker-reporter.mjs> test-worker.mjs
//   fd 3  commands in: one JSON line per file to run ({ file, timeoutMs })
//   fd 4  results out: one frame per finished file (see test-worker-wire.mjs), written by the reporter
// The parent sends the next file only after the previous one's frame came back, so files never overlap
// in this process and each file's wall and CPU time is its own.
//
// Each file is imported inside its own describe(), named after the file: node:test attaches every
// test() and hook the file registers at its top level to that suite (the import runs in the suite's
// async context), which gives the file its own before/after hooks, a per-file timeout, and events
// that say which file they came from. What a file changes in the process (environment, working
// folder, umask, process listeners) is put back when it ends, and reported, so the next file starts
// as it would in a process of its own.
import { describe } from 'node:test';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { WORKER_HOOK } from './test-worker-wire.mjs';

// Listeners that change how the next file's errors or signals are handled. ('exit' listeners are left
// alone: they remove a file's temporary folders when the process ends, as they would in its own process.)
const WATCHED_EVENTS = ['uncaughtException', 'unhandledRejection', 'warning', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

// CPU of this process and of the child processes it has waited for (git, bash, sqlite helpers): most of
// a unit file's CPU is in its children. /proc/self/stat's cutime and cstime are in clock ticks (100/s).
function cpuMs() {
  const own = process.cpuUsage();
  let children = 0;
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    children = ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    children = 0; // not Linux: the file's own CPU only
  }
  return { own: (own.user + own.system) / 1000, children };
}

function snapshot() {
  return {
    env: { ...process.env },
    cwd: process.cwd(),
    umask: process.umask(),
    listeners: Object.fromEntries(WATCHED_EVENTS.map((e) => [e, process.listeners(e)])),
  };
}

// Puts back what the file changed and says what it was, so the run can name a file that leaks state.
function restore(before) {
  const changed = [];
  for (const key of new Set([...Object.keys(before.env), ...Object.keys(process.env)])) {
    if (process.env[key] === before.env[key]) continue;
    changed.push(`process.env.${key}`);
    if (before.env[key] === undefined) delete process.env[key];
    else process.env[key] = before.env[key];
  }
  if (process.cwd() !== before.cwd) {
    changed.push('the working folder');
    process.chdir(before.cwd);
  }
  if (process.umask() !== before.umask) {
    changed.push('the umask');
    process.umask(before.umask);
  }
  for (const event of WATCHED_EVENTS) {
    for (const listener of process.listeners(event)) {
      if (before.listeners[event].includes(listener)) continue;
      changed.push(`a process '${event}' listener`);
      process.removeListener(event, listener);
    }
  }
  return changed;
}

let current = null;
globalThis[WORKER_HOOK] = {
  // Called by the reporter when the file's suite has ended (its events are all in).
  fileEnded(file) {
    if (!current || current.file !== file) return null;
    const { before } = current;
    current = null;
    const cpu = cpuMs();
    const changed = restore(before);
    return {
      wallMs: Math.round(performance.now() - before.startedAt),
      cpuMs: Math.round(cpu.own - before.cpu.own),
      childCpuMs: Math.round(cpu.children - before.cpu.children),
      changed,
    };
  },
};

// A socket, not fs.createReadStream: a read stream would hold one of libuv's four pool threads in a
// blocking read for the whole run (file system work in the tests queues behind it, and exit waits on it).
const commands = createInterface({ input: new Socket({ fd: 3, readable: true, writable: false }) });
commands.on('line', (line) => {
  const { file, timeoutMs } = JSON.parse(line);
  const startedAt = performance.now();
  const cpu = cpuMs();
  // The suite's name is the file, as the parent knows it: the reporter uses it to find the file.
  describe(file, { timeout: timeoutMs }, () => import(pathToFileURL(resolve(file)).href));
  // Taken after describe() (the first one installs node:test's own process listeners, which must stay)
  // and before the import has evaluated the file (that waits for at least a file read).
  current = { file, before: { ...snapshot(), startedAt, cpu } };
});
