import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClaudeSettingsError, importClaudePermissions, importClaudeSettingsFile } from '../../src/policy/claude-settings.js';
import { compileRules } from '../../src/policy/permission.js';

describe('importing .claude/settings.json permissions', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-claude-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('keeps the rules Kairos enforces, lists the others with a reason', () => {
    const r = importClaudePermissions({
      model: 'x',
      permissions: {
        allow: ['Bash(npm run test:*)', 'Read(src/**)', 'Edit', 'mcp__github', 'WebFetch(domain:example.com)', 'Glob'],
        deny: ['Read(./.env)', 'Bash(curl:*)', 'Bash()'],
        ask: ['Bash(git push:*)'],
        defaultMode: 'acceptEdits',
      },
    });
    assert.deepEqual(r.permissions, {
      allow: ['Bash(npm run test:*)', 'Read(src/**)', 'Edit', 'mcp__github', 'Read'],
      ask: ['Bash(git push:*)'],
      deny: ['Read(./.env)', 'Bash(curl:*)'],
    });
    assert.deepEqual(r.skipped.map((s) => s.rule), ['WebFetch(domain:example.com)', 'Bash()']);
    assert.match(r.skipped[0]!.why, /no 'WebFetch' tool/);
    // Glob is kept as the Read rule Kairos checks its list_files with, and the import says what that means.
    assert.deepEqual(r.mapped.map((m) => [m.list, m.rule, m.to]), [['allow', 'Glob', 'Read']]);
    assert.match(r.mapped[0]!.note, /list_files is checked as a Read .* Read also lets the agent read those files/);
    // defaultMode is not dropped without a word.
    assert.deepEqual(r.notes.map((n) => [n.setting, n.value]), [['permissions.defaultMode', 'acceptEdits']]);
    assert.match(r.notes[0]!.instead, /every change waits for your approval/);
    compileRules(r.permissions); // what is kept compiles
  });

  test('Grep rules become Read rules with their path; additionalDirectories is explained, not dropped', () => {
    const r = importClaudePermissions({ permissions: { allow: ['Grep(src/**)', 'Read(src/**)'], deny: ['Grep'], additionalDirectories: ['../docs', '/opt/shared'] } });
    assert.deepEqual(r.permissions, { allow: ['Read(src/**)'], ask: [], deny: ['Read'] });
    assert.deepEqual(r.mapped.map((m) => [m.list, m.rule, m.to]), [['allow', 'Grep(src/**)', 'Read(src/**)'], ['deny', 'Grep', 'Read']]);
    assert.match(r.mapped[1]!.note, /also denies read_file/);
    assert.equal(r.notes[0]!.setting, 'permissions.additionalDirectories');
    assert.equal(r.notes[0]!.value, '../docs, /opt/shared');
    assert.match(r.notes[0]!.instead, /only inside its own worktree/);
  });

  test('reads a file; a missing file imports nothing; bad JSON says where', () => {
    const f = path.join(dir, 'settings.json');
    fs.writeFileSync(f, JSON.stringify({ permissions: { allow: ['Bash(ls *)'] } }));
    assert.deepEqual(importClaudeSettingsFile(f).permissions.allow, ['Bash(ls *)']);
    assert.deepEqual(importClaudeSettingsFile(path.join(dir, 'none.json')).permissions, { allow: [], ask: [], deny: [] });
    fs.writeFileSync(f, '{ nope');
    assert.throws(() => importClaudeSettingsFile(f), (e: Error) => e instanceof ClaudeSettingsError && e.message.startsWith(`${f}:1:3: JSON syntax error: `) && / — /.test(e.message));
    assert.throws(() => importClaudePermissions({ permissions: { allow: 'Bash' } }), ClaudeSettingsError);
    // A schema error points at the value: line 3, column 14.
    fs.writeFileSync(f, '{\n  "permissions": {\n    "allow": "Bash(ls)"\n  }\n}\n');
    assert.throws(() => importClaudeSettingsFile(f), (e: Error) => e instanceof ClaudeSettingsError && e.message.startsWith(`${f}:3:14: permissions.allow: `));
  });
});
