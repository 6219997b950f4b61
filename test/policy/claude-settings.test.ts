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
      allow: ['Bash(npm run test:*)', 'Read(src/**)', 'Edit', 'mcp__github'],
      ask: ['Bash(git push:*)'],
      deny: ['Read(./.env)', 'Bash(curl:*)'],
    });
    assert.deepEqual(r.skipped.map((s) => s.rule), ['WebFetch(domain:example.com)', 'Glob', 'Bash()']);
    assert.match(r.skipped[0]!.why, /no 'WebFetch' tool/);
    compileRules(r.permissions); // what is kept compiles
  });

  test('reads a file; a missing file imports nothing; bad JSON says where', () => {
    const f = path.join(dir, 'settings.json');
    fs.writeFileSync(f, JSON.stringify({ permissions: { allow: ['Bash(ls *)'] } }));
    assert.deepEqual(importClaudeSettingsFile(f).permissions.allow, ['Bash(ls *)']);
    assert.deepEqual(importClaudeSettingsFile(path.join(dir, 'none.json')).permissions, { allow: [], ask: [], deny: [] });
    fs.writeFileSync(f, '{ nope');
    assert.throws(() => importClaudeSettingsFile(f), (e: Error) => e instanceof ClaudeSettingsError && e.message.includes(f) && /not valid JSON/.test(e.message));
    assert.throws(() => importClaudePermissions({ permissions: { allow: 'Bash' } }), ClaudeSettingsError);
  });
});
