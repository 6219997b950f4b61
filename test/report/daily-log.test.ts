import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { appendDailyLog, dailyLogPath, formatDailyLogBullet, readDailyLog } from '../../src/report/daily-log.js';
import { tempDir } from '../support/temp.js';
import { TS_LOADER } from '../support/paths.js';

const temps: Array<{ cleanup(): void }> = [];
function home(): string {
  const t = tempDir('kairos-dailylog-');
  temps.push(t);
  return t.dir;
}
after(() => temps.forEach((t) => t.cleanup()));

describe('daily log', () => {
  test('path is logs/YYYY/MM/YYYY-MM-DD.md by local date', () => {
    assert.equal(dailyLogPath('/h', new Date(2025, 0, 5, 0, 0, 1)), path.join('/h', 'logs', '2025', '01', '2025-01-05.md'));
    assert.equal(dailyLogPath('/h', new Date(2025, 11, 31, 23, 59, 59)), path.join('/h', 'logs', '2025', '12', '2025-12-31.md'));
  });

  test('entries on two days go to two files, each with its heading, in order', () => {
    const h = home();
    const lateJan = new Date(2025, 0, 31, 23, 59, 58);
    const earlyFeb = new Date(2025, 1, 1, 0, 0, 2);
    appendDailyLog(h, { at: lateJan, repo: '/src/alpha', text: 'tests passed' });
    appendDailyLog(h, { at: new Date(2025, 0, 31, 23, 59, 59), text: 'second on the 31st' });
    appendDailyLog(h, { at: earlyFeb, repo: '/src/beta', text: 'lint failed' });

    assert.equal(
      readDailyLog(h, lateJan),
      '# Kairos — 2025-01-31\n\n- 23:59:58 [alpha] tests passed\n- 23:59:59 second on the 31st\n',
    );
    assert.equal(readDailyLog(h, earlyFeb), '# Kairos — 2025-02-01\n\n- 00:00:02 [beta] lint failed\n');
    assert.ok(fs.existsSync(path.join(h, 'logs', '2025', '02', '2025-02-01.md')));
    assert.equal(readDailyLog(h, new Date(2025, 1, 2)), null);
  });

  test('multi-line text is indented under its bullet; escapes are stripped', () => {
    const h = home();
    const at = new Date(2025, 5, 1, 9, 5, 7);
    appendDailyLog(h, { at, text: 'npm test failed\n\x1b[31mFAIL\x1b[0m src/a.test.ts\n\n  expected 1\r\n' });
    assert.equal(readDailyLog(h, at), '# Kairos — 2025-06-01\n\n- 09:05:07 npm test failed\n  FAIL src/a.test.ts\n\n    expected 1\n');
    assert.equal(formatDailyLogBullet({ at, text: 'one' }), '- 09:05:07 one\n');
  });

  test('existing content is never rewritten', () => {
    const h = home();
    const at = new Date(2025, 6, 4, 12, 0, 0);
    const file = dailyLogPath(h, at);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const before = '# my own heading\n\nhand-written note\n';
    fs.writeFileSync(file, before);
    appendDailyLog(h, { at, text: 'added' });
    const now = fs.readFileSync(file, 'utf8');
    assert.ok(now.startsWith(before), 'prefix kept byte for byte');
    assert.equal(now.slice(before.length), '- 12:00:00 added\n');
  });

  test('two processes appending 200 multi-line entries each at once: nothing lost, nothing interleaved', async () => {
    const h = home();
    const go = path.join(h, 'go');
    const at = new Date(2025, 2, 3, 10, 11, 12);
    const moduleUrl = new URL('../../src/report/daily-log.js', import.meta.url).href;
    const writer = (id: string): Promise<void> => {
      // Each child busy-waits for the go file so both hit the (not yet created) file at the same moment.
      const code = `
        import fs from 'node:fs';
        const { appendDailyLog } = await import(${JSON.stringify(moduleUrl)});
        process.stdout.write('ready\\n');
        while (!fs.existsSync(${JSON.stringify(go)})) {}
        for (let i = 0; i < 200; i++) {
          appendDailyLog(${JSON.stringify(h)}, { at: new Date(${at.getTime()}), repo: '/r/${id}', text: '${id} entry ' + i + '\\n${id} detail ' + i + ' ' + 'x'.repeat(i) });
        }`;
      const child = spawn(process.execPath, [...TS_LOADER, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const done = new Promise<void>((resolve, reject) =>
        child.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`writer ${id} exited ${c}: ${stderr}`)))),
      );
      return ready.then(() => {
        readyCount++;
        if (readyCount === 2) fs.writeFileSync(go, '');
        return done;
      });
    };
    let readyCount = 0;
    await Promise.all([writer('p1'), writer('p2')]);

    const text = readDailyLog(h, at);
    assert.ok(text);
    const lines = text.split('\n');
    assert.equal(lines[0], '# Kairos — 2025-03-03');
    assert.equal(lines.filter((l) => l.startsWith('# ')).length, 1, 'heading written once');
    const bullets = lines.slice(2, -1);
    assert.equal(bullets.length, 800);
    const seen = { p1: new Set<number>(), p2: new Set<number>() };
    for (let i = 0; i < bullets.length; i += 2) {
      const m = /^- 10:11:12 \[(p[12])\] \1 entry (\d+)$/.exec(bullets[i]!);
      assert.ok(m, `line ${i}: ${bullets[i]}`);
      const [, id, n] = m as unknown as [string, 'p1' | 'p2', string];
      assert.equal(bullets[i + 1], `  ${id} detail ${n} ${'x'.repeat(Number(n))}`.trimEnd(), 'continuation follows its own bullet');
      seen[id].add(Number(n));
    }
    assert.equal(seen.p1.size, 200);
    assert.equal(seen.p2.size, 200);
  });
});
