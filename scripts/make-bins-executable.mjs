#!/usr/bin/env node
// tsc writes its output without the run bit, so after every build the `kairos` bin (package.json
// "bin") would be "Permission denied" through npx or a linked install. This puts the bit back on
// each bin and checks it starts with a node shebang (npm's own shims need it on a global install).
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// dist/src/cli/main.js was the bin before bin/kairos.js: an npx cache made then still links it, so
// it keeps the run bit too (when this build has it).
const FORMER_BINS = ['dist/src/cli/main.js'].filter((bin) => existsSync(new URL(`../${bin}`, import.meta.url)));
const bins = [...(typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {})), ...FORMER_BINS];
for (const bin of bins) {
  const file = new URL(`../${bin}`, import.meta.url);
  const head = readFileSync(file, 'utf8').slice(0, 64);
  if (!head.startsWith('#!/usr/bin/env node')) {
    console.error(`make-bins-executable: ${bin} does not start with '#!/usr/bin/env node'`);
    process.exit(1);
  }
  chmodSync(file, statSync(file).mode | 0o111);
}
