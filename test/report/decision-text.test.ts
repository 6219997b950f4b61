import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DecisionReport } from '../../src/pipeline/decision-report.js';
import type { Approval } from '../../src/store/approval-store.js';
import { appliedNotification, decisionLogText, logDecision } from '../../src/report/decision-text.js';
import { readDailyLog } from '../../src/report/daily-log.js';

const approval: Approval = {
  id: 'abcd2345',
  kind: 'proposal',
  proposalId: 'abcd2345',
  hash: 'f'.repeat(64),
  summary: 'add() now adds\nmore detail',
  command: null,
  files: ['src/add.js'],
  trigger: 'tests',
  repo: '/src/app',
  taskId: '7',
  costMicros: 0,
  createdAt: '2030-01-01T00:00:00.000Z',
  expiresAt: '2030-01-02T00:00:00.000Z',
  state: 'approved',
  decidedAt: '2030-01-01T01:00:00.000Z',
  decidedBy: 'tray',
  reason: null,
  appliedFiles: ['src/add.js'],
};

function report(kind: DecisionReport['kind'], o: Partial<DecisionReport> = {}): DecisionReport {
  return { kind, id: 'abcd2345', approval, proposalId: 'abcd2345', repo: '/src/app', trigger: 'tests', by: 'tray', files: [], reason: null, hash: approval.hash, taskIds: [7], at: new Date(), ...o };
}

test('every decision is one daily-log line saying what, which id, who, and what to run next', () => {
  assert.equal(decisionLogText(report('approve', { files: ['src/add.js'] })), 'approved abcd2345 via tray: 1 file (src/add.js) applied — "add() now adds"; undo: kairos undo abcd2345 [task 7]');
  assert.equal(decisionLogText(report('deny', { by: 'notification', reason: 'not now' })), 'denied abcd2345 via notification (not now) — "add() now adds"; discarded, nothing changed [task 7]');
  assert.match(decisionLogText(report('expire', { by: 'expiry', reason: 'nobody decided before 2030-01-02T00:00:00.000Z' })), /^expired abcd2345: nobody decided before 2030-01-02/);
  assert.match(decisionLogText(report('fail', { reason: 'conflict in src/add.js' })), /^approved abcd2345 via tray, but applying it failed, nothing changed: conflict in src\/add\.js/);
  assert.equal(decisionLogText(report('undo', { by: 'cli', files: ['a', 'b'] })), `undid abcd2345 via cli: 2 files (a, b) restored; apply again: kairos apply abcd2345 --hash ${'f'.repeat(64)} [task 7]`);
  assert.match(decisionLogText(report('apply', { by: 'cli', files: ['a'] })), /^applied abcd2345 via cli \(kairos apply\): 1 file \(a\); undo: kairos undo abcd2345/);
  assert.match(decisionLogText(report('collapse', { by: 'daemon', reason: 'task 9 proposed the same diff (proposal zzzz2345, discarded)', taskIds: [] })), /^task 9 proposed the same diff .*: it is the same diff as abcd2345, which already waits/);
  assert.match(decisionLogText(report('approve', { by: 'recovery', reason: 'approved via cli; the apply a daemon stop interrupted was finished on start', files: ['a'] })), /^approved abcd2345 \(approved via cli; the apply .* finished on start\): 1 file/);
  const many = decisionLogText(report('approve', { files: ['1', '2', '3', '4', '5', '6', '7'] }));
  assert.match(many, /7 files \(1, 2, 3, 4, 5, … 2 more\)/);
  assert.deepEqual(appliedNotification(report('approve', { files: ['src/add.js'] })), { title: 'Kairos applied abcd2345', body: '1 file (src/add.js) changed in your tree.\nUndo: kairos undo abcd2345' });
});

test('logDecision appends to the day\'s log under the repository, redacted; a failure to write is reported, never thrown', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-decision-log-'));
  try {
    const secret = 'sk-ant-api03-' + 'A'.repeat(90);
    logDecision(home, report('deny', { by: 'cli', reason: `leaked ${secret}` }));
    const log = readDailyLog(home, new Date())!;
    assert.match(log, /\[app\] denied abcd2345 via cli/);
    assert.ok(!log.includes(secret), 'a secret reached the daily log');
    fs.rmSync(path.join(home, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(home, 'logs'), 'a file where the folder should be');
    const errors: string[] = [];
    logDecision(home, report('deny'), (e) => errors.push(e.message));
    assert.equal(errors.length, 1);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
