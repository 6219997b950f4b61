import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, type FinishedRun } from '../../src/agent/hooks/aggregator.js';
import { importClaudeHooks } from '../../src/agent/hooks/claude-import.js';
import { fromHookToolInput, toHookToolInput } from '../../src/agent/hooks/claude-tools.js';
import { parseHookStdout } from '../../src/agent/hooks/events.js';
import { compileMatcher } from '../../src/agent/hooks/matcher.js';
import { planHooks } from '../../src/agent/hooks/planner.js';
import { buildRegistry, HookConfigError } from '../../src/agent/hooks/registry.js';
import type { HookRunResult } from '../../src/agent/hooks/runner.js';

/** Each role of the hook subsystem alone, on plain values. */

describe('matcher', () => {
  test("follows Claude Code's rules", () => {
    const m = (matcher: string | undefined, ...names: string[]) => compileMatcher(matcher)(names);
    assert.equal(m(undefined, 'Bash'), true);
    assert.equal(m('', 'anything'), true);
    assert.equal(m('*', 'anything'), true);
    assert.equal(m('Bash', 'Bash'), true);
    assert.equal(m('Bash', 'BashOutput'), false, 'plain names are exact');
    assert.equal(m('Bash', 'bash'), false, 'case-sensitive');
    assert.equal(m('Edit|Write', 'Write'), true);
    assert.equal(m('Edit|Write', 'MultiEdit'), false);
    assert.equal(m('Notebook.*', 'NotebookEdit'), true);
    assert.equal(m('mcp__github__.*', 'mcp__github__create_issue'), true);
    assert.equal(m('mcp__github__.*', 'mcp__gitlab__x'), false);
    assert.equal(m('^Bash$', 'run_command', 'Bash'), true, 'any of the names');
    assert.throws(() => compileMatcher('Bash('), /not a valid regular expression/);
  });
});

describe('registry', () => {
  test('flattens sources in configuration order and skips what cannot run here', () => {
    const reg = buildRegistry([
      { label: 'user', trusted: true, hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'a' }, { type: 'command', command: 'b', timeout: 5 }] }] } },
      { label: 'untrusted', trusted: false, hooks: { PreToolUse: [{ hooks: [{ type: 'command', command: 'evil' }] }] } },
      {
        label: 'repo',
        trusted: true,
        hooks: {
          TeammateIdle: [{ hooks: [{ type: 'command', command: 'x' }] }],
          PostToolUse: [{ hooks: [{ type: 'http', url: 'http://example.invalid' }, { type: 'command', command: 'c' }] }],
        },
      },
    ]);
    assert.deepEqual(
      reg.hooks.map((h) => [h.event, h.command, h.order, h.timeoutSec]),
      [
        ['PreToolUse', 'a', 0, undefined],
        ['PreToolUse', 'b', 1, 5],
        ['PostToolUse', 'c', 2, undefined],
      ],
    );
    assert.deepEqual(
      reg.skipped.map((s) => [s.source, s.where]),
      [
        ['untrusted', 'hooks'],
        ['repo', 'hooks.TeammateIdle'],
        ['repo', 'hooks.PostToolUse[0].hooks[0]'],
      ],
    );
    assert.match(reg.skipped[1]!.why, /never fires in Kairos \(Kairos runs no agent teams\)/);
  });

  test('a malformed trusted source is an error naming the file, the field and the fix', () => {
    const bad = (hooks: unknown) => () => buildRegistry([{ label: '/home/u/.kairos/hooks.json', trusted: true, hooks }]);
    assert.throws(bad({ PreToolUse: [{ hooks: [{ type: 'command' }] }] }), (e: unknown) => {
      assert.ok(e instanceof HookConfigError);
      assert.match(e.message, /^\/home\/u\/\.kairos\/hooks\.json: hooks\.PreToolUse\[0\]\.hooks\[0\]\.command: .* — the format is/);
      return true;
    });
    assert.throws(bad({ PreToolUse: [{ hooks: [{ type: 'command', command: 'x', timeout: -1 }] }] }), /timeout: must be a positive number of seconds/);
    assert.throws(bad({ PreToolUse: { matcher: 'Bash' } }), /hooks\.PreToolUse: expected a list \[\.\.\.\], got an object/);
    assert.throws(bad(['not', 'an', 'object']), /hooks: /);
  });

  test('importing settings keeps the hooks section as written; disableAllHooks turns it off', () => {
    const hooks = { PostToolUse: [{ matcher: 'Edit|Write', hooks: [{ type: 'command', command: 'npx prettier --write', timeout: 30 }] }] };
    assert.deepEqual(importClaudeHooks({ permissions: { allow: [] }, hooks, model: 'x' }, 'settings.json'), hooks);
    assert.deepEqual(importClaudeHooks({ hooks, disableAllHooks: true }, 'settings.json'), {});
    assert.deepEqual(importClaudeHooks({ env: {} }, 'settings.json'), {});
    assert.throws(() => importClaudeHooks([1], 'settings.json'), /settings\.json: not a settings file/);
  });
});

describe('planner', () => {
  test('selects by event and matcher and runs an identical command once', () => {
    const reg = buildRegistry([
      { label: 'user', trusted: true, hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'fmt' }] }], Stop: [{ matcher: 'ignored', hooks: [{ type: 'command', command: 'stop' }] }] } },
      { label: 'repo', trusted: true, hooks: { PreToolUse: [{ matcher: '*', hooks: [{ type: 'command', command: 'fmt' }, { type: 'command', command: 'other' }] }] } },
    ]);
    assert.deepEqual(planHooks(reg.hooks, 'PreToolUse', ['run_command', 'Bash']).map((h) => `${h.source}:${h.command}`), ['user:fmt', 'repo:other']);
    assert.deepEqual(planHooks(reg.hooks, 'PreToolUse', ['read_file', 'Read']).map((h) => `${h.source}:${h.command}`), ['repo:fmt', 'repo:other']);
    assert.deepEqual(planHooks(reg.hooks, 'Stop', []).map((h) => h.command), ['stop'], 'Stop has no matcher: every hook fires');
  });
});

function finished(order: number, result: Partial<HookRunResult>): FinishedRun {
  return {
    command: `hook${order}`,
    source: 'test',
    order,
    result: { kind: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, durationMs: 1, ...result },
  };
}

describe('aggregator', () => {
  test('old-style decision approve/block, reasons of the winning decision only', () => {
    const out = aggregate('PreToolUse', [
      finished(0, { stdout: '{"decision": "approve", "reason": "fine"}' }),
      finished(1, { kind: 'block', exitCode: 2, stderr: 'no: 1' }),
      finished(2, { stdout: '{"decision": "block", "reason": "no: 2"}' }),
    ]);
    assert.equal(out.decision, 'block');
    assert.equal(out.reason, 'no: 1\nno: 2');
    assert.deepEqual(out.runs.map((r) => r.decision), ['allow', 'block', 'block']);
    assert.equal(aggregate('PreToolUse', [finished(0, { stdout: '{"decision": "approve"}' })]).decision, 'allow');
  });

  test('failures and timeouts never block; they are warnings', () => {
    const out = aggregate('PreToolUse', [
      finished(0, { kind: 'timeout', exitCode: null, message: 'did not finish within 1s and was killed' }),
      finished(1, { kind: 'error', exitCode: 1, message: 'exited with code 1', stderr: 'jq: not found' }),
    ]);
    assert.equal(out.decision, 'none');
    assert.deepEqual(out.warnings, [
      "hook 'hook0' (test) did not finish within 1s and was killed",
      "hook 'hook1' (test) exited with code 1: jq: not found",
    ]);
  });

  test('untrusted answers are checked: a non-object updatedInput, a wrong event name, cut-off JSON', () => {
    const arr = aggregate('PreToolUse', [finished(0, { stdout: '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "updatedInput": ["rm", "-rf"]}}' })], { command: 'ls' });
    assert.equal(arr.updatedInput, undefined);
    assert.match(arr.warnings[0]!, /updatedInput/);

    const wrong = aggregate('PreToolUse', [
      finished(0, { stdout: '{"hookSpecificOutput": {"hookEventName": "PostToolUse", "permissionDecision": "deny"}}' }),
    ]);
    assert.equal(wrong.decision, 'none');
    assert.match(wrong.warnings[0]!, /hookEventName is 'PostToolUse' but the event is 'PreToolUse'/);

    assert.equal(parseHookStdout('{"decision": "block"}', 'Stop', true).kind, 'invalid');
    assert.equal(parseHookStdout('formatted 3 files', 'PostToolUse').kind, 'text');
  });

  test('updatedInput outside PreToolUse and blocks on unblockable events are ignored with a warning', () => {
    const out = aggregate('PostToolUse', [finished(0, { stdout: '{"hookSpecificOutput": {"hookEventName": "PostToolUse", "updatedInput": {"a": 1}}}' })]);
    assert.equal(out.updatedInput, undefined);
    assert.match(out.warnings[0]!, /only PreToolUse/);
    const sessionEnd = aggregate('SessionEnd', [finished(0, { stdout: '{"decision": "block", "reason": "x"}' })]);
    assert.equal(sessionEnd.decision, 'none');
    assert.match(sessionEnd.warnings[0]!, /no effect on SessionEnd/);
  });
});

describe('Claude Code tool names', () => {
  test('edit_file round trip: both spellings out, the changed one back', () => {
    const sent = toHookToolInput('edit_file', { path: 'src/a.ts', old: 'x', new: 'y' }, '/wt');
    assert.deepEqual(sent, { path: 'src/a.ts', old: 'x', new: 'y', file_path: '/wt/src/a.ts', old_string: 'x', new_string: 'y' });
    assert.deepEqual(fromHookToolInput('edit_file', { ...sent, new_string: 'z' }, sent, '/wt'), { path: 'src/a.ts', old: 'x', new: 'z' });
    assert.deepEqual(fromHookToolInput('edit_file', { ...sent, new: 'w' }, sent, '/wt'), { path: 'src/a.ts', old: 'x', new: 'w' });
    assert.deepEqual(fromHookToolInput('edit_file', { ...sent, file_path: '/etc/passwd' }, sent, '/wt'), { path: '../etc/passwd', old: 'x', new: 'y' }, 'left for the tool to refuse');
    assert.deepEqual(fromHookToolInput('git', { args: ['log'] }, { args: ['status'] }, '/wt'), { args: ['log'] });
  });
});
