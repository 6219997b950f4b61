// The reporter inside a test worker (scripts/test-worker.mjs): it collects node:test's events per
// file and, when the file's suite ends, asks the worker for the file's times (and to put back what
// the file changed), then writes the whole file as one frame on fd 4 for the parent. Nothing goes to
// stdout: the parent prints every file as one block with the spec reporter.
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { encodeFrame, WORKER_HOOK } from './test-worker-wire.mjs';

const RESULTS_FD = 4;
const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/;

function send(frame) {
  const bytes = encodeFrame(frame);
  for (let at = 0; at < bytes.length; ) at += writeSync(RESULTS_FD, bytes, at);
}

export default async function* workerReporter(source) {
  let file = null;
  let events = [];
  for await (const event of source) {
    const { nesting, name } = event.data ?? {};
    // The run's own totals (each worker's root): the parent counts across workers.
    if (nesting === 0 && event.type === 'test:diagnostic' && SUMMARY.test(event.data.message)) continue;
    if (event.type === 'test:plan' && nesting === 0) continue;
    if (nesting === 0 && (event.type === 'test:start' || event.type === 'test:enqueue' || event.type === 'test:dequeue')) file = name;
    // The file's suite is declared in the worker, but it stands for the file: point there.
    if (nesting === 0 && name === file && event.data.file) Object.assign(event.data, { file: resolve(file), line: 1, column: 1 });
    events.push(event);
    if (nesting === 0 && (event.type === 'test:pass' || event.type === 'test:fail') && name === file) {
      const times = globalThis[WORKER_HOOK]?.fileEnded(file);
      send({ file, events, ...times });
      file = null;
      events = [];
    }
  }
  // Events outside any file (an error after the last file ended): the parent reports them.
  if (events.length) send({ file: null, events });
  yield '';
}
