/**
 * `kairos status | head -1`: once the reader has what it wants it closes the pipe, and the next
 * write gets EPIPE. Node reports that as an 'error' event on process.stdout, which, unhandled,
 * crashes with a stack trace. A closed pipe is the reader saying "enough", not a failure: exit at
 * once and quietly, with status 0, as `head`'s own writer would want (`set -o pipefail` scripts
 * stay green). Any other output error (a full disk under `> file`) is reported in one line.
 */

let installed = false;

export function exitQuietlyWhenOutputCloses(): void {
  if (installed) return;
  installed = true;
  for (const [name, stream] of [
    ['stdout', process.stdout],
    ['stderr', process.stderr],
  ] as const) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      // stderr itself may be the broken one: try it once, then give up without another error.
      if (name === 'stdout') {
        try {
          process.stderr.write(`kairos: cannot write the output: ${e.message}\n`);
        } catch {
          // nothing left to report to
        }
      }
      process.exit(1);
    });
  }
}
