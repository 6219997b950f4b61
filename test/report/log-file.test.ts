import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RotatingLogFile } from '../../src/report/log-file.js';
import { createLogger } from '../../src/report/logger.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-logfile-');
after(() => tmp.cleanup());

describe('kairos.log rotation', () => {
  test('rotates by size, keeps N files, loses no line', () => {
    const dir = path.join(tmp.dir, 'rot');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'kairos.log');
    const log = createLogger(dir, { file, rotate: { maxBytes: 4096, keep: 3 }, redact: false });
    for (let i = 0; i < 200; i++) log.info({ i }, 'line');
    const names = fs.readdirSync(dir).sort();
    assert.deepEqual(names, ['kairos.log', 'kairos.log.1', 'kairos.log.2', 'kairos.log.3']);
    for (const n of names) assert.ok(fs.statSync(path.join(dir, n)).size < 4096 + 200, `${n} is bounded`);
    // The newest lines are in the live file and the numbered ones hold older lines, in order.
    const read = (n: string): number[] => fs.readFileSync(path.join(dir, n), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    const seq = [...read('kairos.log.3'), ...read('kairos.log.2'), ...read('kairos.log.1'), ...read('kairos.log')];
    assert.equal(seq.at(-1), 199);
    for (let k = 1; k < seq.length; k++) assert.equal(seq[k], seq[k - 1]! + 1, 'consecutive lines, none lost inside the kept files');
  });

  test('an existing file counts toward the size at open', () => {
    const dir = path.join(tmp.dir, 'existing');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'kairos.log');
    fs.writeFileSync(file, 'x'.repeat(5000) + '\n');
    const f = new RotatingLogFile(file, { maxBytes: 4096, keep: 2 });
    f.write('{"a":1}\n');
    f.end();
    assert.ok(fs.existsSync(`${file}.1`));
    assert.equal(fs.readFileSync(file, 'utf8'), '');
  });

  test('a write that fails (disk full) never throws: the line is held and written when writes work again', () => {
    const dir = path.join(tmp.dir, 'full');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'kairos.log');
    const f = new RotatingLogFile(file, { maxBytes: 1 << 20 });
    f.write('{"n":1}\n');
    // /dev/full answers every write with ENOSPC: swap the descriptor for one on it.
    const priv = f as unknown as { fd: number };
    const real = priv.fd;
    priv.fd = fs.openSync('/dev/full', 'w');
    assert.doesNotThrow(() => f.write('{"n":2}\n'));
    assert.doesNotThrow(() => f.write('{"n":3}\n'));
    assert.equal(f.held(), 2);
    fs.closeSync(priv.fd);
    priv.fd = real;
    f.write('{"n":4}\n');
    f.end();
    assert.deepEqual(fs.readFileSync(file, 'utf8').trim().split('\n'), ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
  });
});
