import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { createLogger, logFilePath } from '../../src/report/logger.js';
import { tempDir } from '../support/temp.js';
import { TS_LOADER } from '../support/paths.js';

const temps: Array<{ cleanup(): void }> = [];
function home(): string {
  const t = tempDir('kairos-logger-');
  temps.push(t);
  return t.dir;
}
after(() => temps.forEach((t) => t.cleanup()));

function readLines(h: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(logFilePath(h), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const moduleUrl = new URL('../../src/report/logger.js', import.meta.url).href;

/** Runs `body` in a fresh node process that has `createLogger` in scope. */
function child(body: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const code = `const { createLogger } = await import(${JSON.stringify(moduleUrl)});\n${body}`;
  const p = spawn(process.execPath, [...TS_LOADER, '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('exit', (c, s) => resolve({ code: c, signal: s, stderr })));
}

describe('logger', () => {
  test('writes JSON lines to $KAIROS_HOME/logs/kairos.log at the chosen level', () => {
    const h = home();
    const log = createLogger(h, { level: 'info' });
    log.debug('hidden');
    log.info({ repo: '/r', task: 3 }, 'task finished');
    log.warn('careful');
    const lines = readLines(h);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.msg, 'task finished');
    assert.equal(lines[0]!.repo, '/r');
    assert.equal(lines[0]!.task, 3);
    assert.equal(lines[0]!.level, 30);
    assert.equal(typeof lines[0]!.time, 'string');
    assert.ok(!Number.isNaN(Date.parse(lines[0]!.time as string)));
    assert.equal(lines[1]!.msg, 'careful');
  });

  test('appends to an existing log file', () => {
    const h = home();
    createLogger(h).info('first run');
    createLogger(h).info('second run');
    assert.deepEqual(readLines(h).map((l) => l.msg), ['first run', 'second run']);
  });

  test('the redact hook sees messages, nested strings and errors', () => {
    const h = home();
    const secret = 'sk-ant-api03-SECRETSECRET';
    const log = createLogger(h, { redact: (s) => s.replaceAll(secret, '[REDACTED]') });
    log.info(`key is ${secret}`);
    log.error({ cmd: { argv: ['curl', `-H x-api-key:${secret}`] }, err: new Error(`bad key ${secret}`) }, 'call failed');
    const raw = fs.readFileSync(logFilePath(h), 'utf8');
    assert.ok(!raw.includes(secret), raw);
    const [a, b] = readLines(h);
    assert.equal(a!.msg, 'key is [REDACTED]');
    assert.deepEqual((b!.cmd as { argv: string[] }).argv, ['curl', '-H x-api-key:[REDACTED]']);
    assert.equal((b!.err as { message: string }).message, 'bad key [REDACTED]');
  });

  test('nothing logged before a SIGKILL is lost (writes are synchronous)', async () => {
    const h = home();
    const r = await child(`
      const log = createLogger(${JSON.stringify(h)}, { level: 'info' });
      for (let i = 0; i < 2000; i++) log.info({ i }, 'line');
      process.kill(process.pid, 'SIGKILL');`);
    assert.equal(r.signal, 'SIGKILL');
    const lines = readLines(h);
    assert.equal(lines.length, 2000);
    assert.equal(lines.at(-1)!.i, 1999);
  });

  test('nothing logged before a SIGTERM is lost', async () => {
    const h = home();
    const r = await child(`
      const log = createLogger(${JSON.stringify(h)});
      for (let i = 0; i < 500; i++) log.info({ i }, 'line');
      process.kill(process.pid, 'SIGTERM');
      setTimeout(() => {}, 10000);`);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(readLines(h).length, 500);
  });

  test('alsoStderr copies lines to stderr', async () => {
    const h = home();
    const r = await child(`createLogger(${JSON.stringify(h)}, { alsoStderr: true }).info('to both');`);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /"msg":"to both"/);
    assert.equal(readLines(h)[0]!.msg, 'to both');
  });

  test("with alsoStderr the logger's level alone decides: debug lines reach both at 'debug', none at 'warn', the interpolated arguments redacted", async () => {
    const h = home();
    const r = await child(
      `const log = createLogger(${JSON.stringify(h)}, { level: 'debug', alsoStderr: true, redact: (s) => s.replaceAll('hunter2', '[gone]') });\n` +
        `log.debug('low %s', 'hunter2'); log.trace('lower');\n` +
        `const quiet = createLogger(${JSON.stringify(h)}, { level: 'warn', alsoStderr: true, file: ${JSON.stringify(`${h}/quiet.log`)} }); quiet.info('not shown'); quiet.warn('shown');`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /"msg":"low \[gone\]"/);
    assert.doesNotMatch(r.stderr, /lower|not shown|hunter2/);
    assert.deepEqual(readLines(h).map((l) => l.msg), ['low [gone]']);
    assert.deepEqual(fs.readFileSync(`${h}/quiet.log`, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg), ['shown']);
    assert.match(r.stderr, /"msg":"shown"/);
  });
});
