import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHooks, HookPayloadError, loadHookSources, type HookSource, type HooksConfig } from '../../src/agent/hooks.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * The hook facade end to end: real settings, real shell scripts in temp folders, real processes.
 * Each test builds its own project folder, so they can run in any order.
 */

let root: string;
let n = 0;

before(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-hooks-')));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function project(): string {
  const dir = path.join(root, `p${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes an executable /bin/sh script and returns its path. */
function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

function source(hooks: unknown, label = 'test-hooks.json'): HookSource {
  return { label, trusted: true, hooks };
}

function pre(matcher: string | undefined, command: string, timeout?: number): unknown {
  return { PreToolUse: [{ ...(matcher !== undefined ? { matcher } : {}), hooks: [{ type: 'command', command, ...(timeout ? { timeout } : {}) }] }] };
}

function hooksFor(dir: string, sources: HookSource[], extra: Partial<HooksConfig> = {}) {
  return createHooks({ sources, projectDir: dir, sessionId: 'session-1', ...extra });
}

function has(cmd: string): boolean {
  try {
    execFileSync('/bin/sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('PreToolUse', () => {
  test('a hook exiting 2 blocks the tool and its stderr is the reason the model sees', async () => {
    const dir = project();
    const s = script(dir, 'deny-rm.sh', `input=$(cat)\ncase "$input" in *'rm -rf'*) echo "refusing rm -rf: delete files one by one" >&2; exit 2;; esac\nexit 0`);
    const hooks = hooksFor(dir, [source(pre('Bash', s))]);

    const blocked = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'rm -rf build' } });
    assert.equal(blocked.decision, 'block');
    assert.equal(blocked.reason, 'refusing rm -rf: delete files one by one');
    assert.equal(blocked.runs.length, 1);
    assert.equal(blocked.runs[0]!.kind, 'block');

    const fine = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'npm test' } });
    assert.equal(fine.decision, 'none');
    assert.equal(fine.reason, undefined);
  });

  test('JSON permissionDecision "deny" blocks, with permissionDecisionReason as the reason', async () => {
    const dir = project();
    const answer = JSON.stringify({
      hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'writes to generated/ are not allowed' },
    });
    const s = script(dir, 'deny.sh', `cat >/dev/null\necho '${answer}'`);
    const hooks = hooksFor(dir, [source(pre('Write', s))]);
    const out = await hooks.fire('PreToolUse', { tool_name: 'write_file', tool_input: { path: 'generated/x.ts', content: '' } });
    assert.equal(out.decision, 'block');
    assert.equal(out.reason, 'writes to generated/ are not allowed');
  });

  test('updatedInput rewrites the input; Claude Code field names map back to Kairos fields', async () => {
    const dir = project();
    // Rewrites the command the way a Claude Code hook would: reads tool_input, answers updatedInput.
    const addFlag = script(
      dir,
      'add-flag.sh',
      `jq -c '{hookSpecificOutput: {hookEventName: "PreToolUse", permissionDecision: "allow", updatedInput: {command: (.tool_input.command + " --reporter=dot")}}}'`,
    );
    const hooks = hooksFor(dir, [source(pre('Bash', addFlag))]);
    const out = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'npm test' } });
    assert.equal(out.decision, 'allow');
    assert.deepEqual(out.updatedInput, { command: 'npm test --reporter=dot' });

    // A hook that moves a write by changing Claude Code's absolute file_path.
    const wd = path.join(dir, 'worktree');
    fs.mkdirSync(wd);
    const move = script(dir, 'move.sh', `jq -c '{hookSpecificOutput: {hookEventName: "PreToolUse", updatedInput: (.tool_input | .file_path = ($ENV.KAIROS_WORK_DIR + "/out/" + (.path)))}}'`);
    const hooks2 = hooksFor(dir, [source(pre('Write', move))], { workDir: wd });
    const moved = await hooks2.fire('PreToolUse', { tool_name: 'write_file', tool_input: { path: 'a.txt', content: 'hi' } });
    assert.equal(moved.decision, 'none');
    assert.deepEqual(moved.updatedInput, { path: 'out/a.txt', content: 'hi' });
  });

  test('updates from several hooks merge in configuration order; block beats ask beats allow', async () => {
    const dir = project();
    const answer = (o: object) => `cat >/dev/null\necho '${JSON.stringify({ hookSpecificOutput: { hookEventName: 'PreToolUse', ...o } })}'`;
    const a = script(dir, 'a.sh', answer({ permissionDecision: 'allow', updatedInput: { command: 'first', a: 1 } }));
    const b = script(dir, 'b.sh', answer({ permissionDecision: 'ask', permissionDecisionReason: 'b wants a human', updatedInput: { command: 'second', b: 2 } }));
    const group = (cmds: string[]) => ({ PreToolUse: [{ matcher: 'Bash', hooks: cmds.map((command) => ({ type: 'command', command })) }] });

    const two = await hooksFor(dir, [source(group([a, b]))]).fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'orig' } });
    assert.equal(two.decision, 'ask');
    assert.equal(two.reason, 'b wants a human');
    assert.deepEqual(two.updatedInput, { command: 'second', a: 1, b: 2 });

    const reversed = await hooksFor(dir, [source(group([b, a]))]).fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'orig' } });
    assert.deepEqual(reversed.updatedInput, { command: 'first', a: 1, b: 2 });

    const c = script(dir, 'c.sh', 'cat >/dev/null\necho "no" >&2\nexit 2');
    const three = await hooksFor(dir, [source(group([a, b, c]))]).fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'orig' } });
    assert.equal(three.decision, 'block');
    assert.equal(three.reason, 'no');
    assert.equal(three.updatedInput, undefined, 'a blocked call has no updated input');
  });

  test('a hanging hook is killed at its timeout and the caller goes on', async () => {
    const dir = project();
    const pidFile = path.join(dir, 'pid');
    const hang = script(dir, 'hang.sh', `echo $$ > '${pidFile}'\nsleep 30 &\nwait`);
    const quick = script(dir, 'quick.sh', 'cat >/dev/null\necho "quick ran" >&2\nexit 2');
    const hooks = hooksFor(dir, [source({ PreToolUse: [{ hooks: [{ type: 'command', command: hang, timeout: 1 }, { type: 'command', command: quick }] }] })]);

    const out = await hooks.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'a' } });
    assert.equal(out.decision, 'block', 'the other hook still counted');
    assert.equal(out.reason, 'quick ran');
    const hung = out.runs.find((r) => r.command === hang)!;
    assert.equal(hung.kind, 'timeout');
    assert.match(out.warnings.join('\n'), /did not finish within 1s and was killed/);

    // The whole process group is gone (the backgrounded sleep too).
    const pgid = Number(fs.readFileSync(pidFile, 'utf8'));
    await waitFor(() => !groupAlive(pgid));

    // And the next event is handled normally.
    const again = await hooks.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'b' } });
    assert.equal(again.runs.length, 2);
  });

  test('garbage on stdout is a warning and the hook counts by its exit code only', async () => {
    const dir = project();
    const garbage = script(dir, 'garbage.sh', `cat >/dev/null\nprintf '{"hookSpecificOutput": {"permissionDecision": "deny"'`);
    const wrongTypes = script(dir, 'types.sh', `cat >/dev/null\necho '{"decision": "maybe", "continue": "no"}'`);
    const hooks = hooksFor(dir, [source({ PreToolUse: [{ hooks: [{ type: 'command', command: garbage }, { type: 'command', command: wrongTypes }] }] })]);
    const out = await hooks.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'a' } });
    assert.equal(out.decision, 'none');
    assert.equal(out.stop, undefined);
    assert.equal(out.warnings.length, 2);
    assert.match(out.warnings[0]!, /printed invalid JSON/);
    assert.match(out.warnings[1]!, /not a hook answer .*decision/);
  });

  test('matchers select by tool name: exact, alternatives, regex, MCP names, everything', async () => {
    const dir = project();
    const log = path.join(dir, 'log');
    const rec = (id: string) => script(dir, `${id}.sh`, `cat >/dev/null\necho ${id} >> '${log}'`);
    const groups = [
      { matcher: 'Bash', hooks: [{ type: 'command', command: rec('bash') }] },
      { matcher: 'Edit|Write', hooks: [{ type: 'command', command: rec('editwrite') }] },
      { matcher: 'mcp__memory__.*', hooks: [{ type: 'command', command: rec('memory') }] },
      { matcher: '^(read|list)_', hooks: [{ type: 'command', command: rec('readers') }] },
      { matcher: '*', hooks: [{ type: 'command', command: rec('star') }] },
      { hooks: [{ type: 'command', command: rec('nomatcher') }] },
      { matcher: 'Edi', hooks: [{ type: 'command', command: rec('partial') }] },
    ];
    const hooks = hooksFor(dir, [source({ PreToolUse: groups })]);
    const ran = async (tool: string): Promise<string[]> => {
      fs.rmSync(log, { force: true });
      await hooks.fire('PreToolUse', { tool_name: tool, tool_input: {} });
      return fs.readFileSync(log, 'utf8').trim().split('\n').sort();
    };
    assert.deepEqual(await ran('run_command'), ['bash', 'nomatcher', 'star']);
    assert.deepEqual(await ran('edit_file'), ['editwrite', 'nomatcher', 'star']);
    assert.deepEqual(await ran('write_file'), ['editwrite', 'nomatcher', 'star']);
    assert.deepEqual(await ran('mcp__memory__create_entities'), ['memory', 'nomatcher', 'star']);
    assert.deepEqual(await ran('read_file'), ['nomatcher', 'readers', 'star']);
    assert.deepEqual(await ran('git'), ['nomatcher', 'star']);
  });

  test('a hook gets the Claude Code payload, runs in the project folder, with both project-dir variables and no model key', async () => {
    const dir = project();
    const wd = path.join(dir, 'wt');
    fs.mkdirSync(wd);
    const out = path.join(dir, 'seen.json');
    const s = script(
      dir,
      'probe.sh',
      `jq -c --arg pwd "$PWD" '{stdin: ., pwd: $pwd, env: {c: $ENV.CLAUDE_PROJECT_DIR, k: $ENV.KAIROS_PROJECT_DIR, w: $ENV.KAIROS_WORK_DIR, key: ($ENV.ANTHROPIC_API_KEY // "absent")}}' > '${out}'`,
    );
    const hooks = hooksFor(dir, [source(pre(undefined, s))], {
      workDir: wd,
      transcriptPath: '/tmp/t.jsonl',
      env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-secret' },
    });
    // An explicit env is used as given: only the default env drops the key. Check the default too.
    await hooks.fire('PreToolUse', { tool_name: 'edit_file', tool_input: { path: 'src/a.ts', old: 'x', new: 'y' }, tool_use_id: 'toolu_1' });
    const seen = JSON.parse(fs.readFileSync(out, 'utf8')) as { stdin: Record<string, unknown>; pwd: string; env: Record<string, string> };
    assert.deepEqual(seen.stdin, {
      session_id: 'session-1',
      transcript_path: '/tmp/t.jsonl',
      cwd: wd,
      permission_mode: 'default',
      hook_event_name: 'PreToolUse',
      tool_name: 'Edit',
      kairos_tool_name: 'edit_file',
      tool_input: { path: 'src/a.ts', old: 'x', new: 'y', file_path: path.join(wd, 'src/a.ts'), old_string: 'x', new_string: 'y' },
      tool_use_id: 'toolu_1',
    });
    assert.equal(seen.pwd, dir);
    assert.deepEqual(seen.env, { c: dir, k: dir, w: wd, key: 'sk-secret' });

    const saved = process.env.ANTHROPIC_API_KEY;
    process.env.ANTHROPIC_API_KEY = 'sk-daemon';
    try {
      await hooksFor(dir, [source(pre(undefined, s))]).fire('PreToolUse', { tool_name: 'git', tool_input: { args: ['status'] } });
    } finally {
      if (saved === undefined) delete process.env.ANTHROPIC_API_KEY;
      else process.env.ANTHROPIC_API_KEY = saved;
    }
    const seen2 = JSON.parse(fs.readFileSync(out, 'utf8')) as { env: Record<string, string>; stdin: Record<string, unknown> };
    assert.equal(seen2.env.key, 'absent');
    assert.equal(seen2.stdin.tool_name, 'git');
  });

  test('continue: false stops the task and blocks the tool', async () => {
    const dir = project();
    const s = script(dir, 'stop.sh', `cat >/dev/null\necho '{"continue": false, "stopReason": "maintenance window"}'`);
    const out = await hooksFor(dir, [source(pre('*', s))]).fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'ls' } });
    assert.deepEqual(out.stop, { reason: 'maintenance window' });
    assert.equal(out.decision, 'block');
  });

  test('a payload that does not fit the event is a caller bug and throws', async () => {
    const dir = project();
    const hooks = hooksFor(dir, []);
    await assert.rejects(
      hooks.fire('PreToolUse', { tool_name: 'x' } as never),
      (e: unknown) => e instanceof HookPayloadError && /tool_input/.test(e.message),
    );
  });
});

describe('other events', () => {
  test('PostToolUse: exit 2 and decision block give feedback; additionalContext is collected in order', async () => {
    const dir = project();
    const lint = script(dir, 'lint.sh', 'cat >/dev/null\necho "lint: missing semicolon at a.ts:3" >&2\nexit 2');
    const ctx = script(dir, 'ctx.sh', `cat >/dev/null\necho '{"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "remember to update CHANGELOG.md"}}'`);
    const hooks = hooksFor(dir, [source({ PostToolUse: [{ matcher: 'Write', hooks: [{ type: 'command', command: lint }, { type: 'command', command: ctx }] }] })]);
    const out = await hooks.fire('PostToolUse', { tool_name: 'write_file', tool_input: { path: 'a.ts', content: 'x' }, tool_response: { ok: true } });
    assert.equal(out.decision, 'block');
    assert.equal(out.reason, 'lint: missing semicolon at a.ts:3');
    assert.equal(out.additionalContext, 'remember to update CHANGELOG.md');
  });

  test('Stop: decision block keeps the agent working, with the reason', async () => {
    const dir = project();
    const s = script(dir, 'stop.sh', `input=$(cat)\ncase "$input" in *'"stop_hook_active":true'*) exit 0;; esac\necho '{"decision": "block", "reason": "tests were not run; run npm test first"}'`);
    const hooks = hooksFor(dir, [source({ Stop: [{ hooks: [{ type: 'command', command: s }] }] })]);
    const first = await hooks.fire('Stop', { stop_hook_active: false });
    assert.equal(first.decision, 'block');
    assert.equal(first.reason, 'tests were not run; run npm test first');
    const second = await hooks.fire('Stop', { stop_hook_active: true });
    assert.equal(second.decision, 'none');
  });

  test('exit 2 on an event that cannot be blocked is only a warning', async () => {
    const dir = project();
    const s = script(dir, 'n.sh', 'cat >/dev/null\necho "notifier broke" >&2\nexit 2');
    const out = await hooksFor(dir, [source({ Notification: [{ hooks: [{ type: 'command', command: s }] }] })]).fire('Notification', { message: 'done' });
    assert.equal(out.decision, 'none');
    assert.match(out.warnings[0]!, /no effect on Notification: notifier broke/);
  });

  test('SessionStart: plain stdout becomes context; Kairos events match on their subject', async () => {
    const dir = project();
    const s = script(dir, 'start.sh', 'cat >/dev/null\necho "branch: main, 3 open TODOs"');
    const budget = script(dir, 'budget.sh', 'cat >/dev/null\necho \'{"systemMessage": "day budget 80% used"}\'');
    const hooks = hooksFor(dir, [
      source({
        SessionStart: [{ matcher: 'startup', hooks: [{ type: 'command', command: s }] }],
        BudgetThreshold: [{ matcher: 'day|month', hooks: [{ type: 'command', command: budget }] }],
      }),
    ]);
    assert.equal((await hooks.fire('SessionStart', { source: 'startup' })).additionalContext, 'branch: main, 3 open TODOs');
    assert.equal((await hooks.fire('SessionStart', { source: 'resume' })).runs.length, 0);
    const day = await hooks.fire('BudgetThreshold', { cap: 'day', spent_usd: 4, limit_usd: 5, fraction: 0.8 });
    assert.deepEqual(day.systemMessages, ['day budget 80% used']);
    assert.equal((await hooks.fire('BudgetThreshold', { cap: 'task', spent_usd: 4, limit_usd: 5, fraction: 0.8 })).runs.length, 0);
    assert.equal(hooks.has('BudgetThreshold'), true);
    assert.equal(hooks.has('TaskApproved'), false);
  });
});

describe('configuration from settings files', () => {
  const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'hooks', 'claude-project');

  test('a real-world .claude/settings.json works unchanged', { skip: !has('python3') || !has('jq') ? 'needs python3 and jq' : false }, async () => {
    const repo = project();
    fs.cpSync(fixture, repo, { recursive: true });
    const wt = path.join(root, `wt${n}`);
    fs.mkdirSync(path.join(wt, 'src'), { recursive: true });
    // The prettier hook calls `npx prettier`: a stand-in npx on PATH records the call instead.
    const bin = path.join(repo, '..', `bin${n}`);
    const calls = path.join(bin, 'calls');
    script(bin, 'npx', `echo "$*" >> '${calls}'`);

    const sources = loadHookSources({ repoDir: repo, repoTrusted: true });
    const hooks = createHooks({ sources, projectDir: repo, workDir: wt, sessionId: 's', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });

    // Non-command hooks (and events Kairos has no equivalent of) are skipped, not errors.
    const skipped = hooks.registry.skipped.map((s) => s.where).sort();
    assert.deepEqual(skipped, ['hooks.Stop[0].hooks[0]']);
    assert.deepEqual(hooks.registry.hooks.map((h) => h.event), ['PreToolUse', 'PostToolUse', 'Notification', 'UserPromptSubmit']);
    // UserPromptSubmit (a poke's note): its plain stdout is context for the model, as in Claude Code.
    const prompt = await hooks.fire('UserPromptSubmit', { prompt: 'look at the flaky test' });
    assert.match(prompt.additionalContext ?? '', /^Current time: /);

    const grep = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'grep -r TODO src' } });
    assert.equal(grep.decision, 'block');
    assert.match(grep.reason!, /Use 'rg' \(ripgrep\) instead of 'grep'/);
    assert.equal((await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'npm test' } })).decision, 'none');
    assert.equal((await hooks.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'src/index.ts' } })).runs.length, 0);

    const ts = await hooks.fire('PostToolUse', { tool_name: 'edit_file', tool_input: { path: 'src/index.ts', old: 'a', new: 'b' }, tool_response: 'ok' });
    assert.deepEqual(ts.warnings, []);
    await hooks.fire('PostToolUse', { tool_name: 'write_file', tool_input: { path: 'README.md', content: '#' }, tool_response: 'ok' });
    assert.equal(fs.readFileSync(calls, 'utf8'), `prettier --write ${path.join(wt, 'src/index.ts')}\n`);
  });

  test('an untrusted repository contributes no hooks: they are listed as skipped and never run', async () => {
    const repo = project();
    const marker = path.join(repo, 'ran');
    fs.mkdirSync(path.join(repo, '.claude'));
    fs.writeFileSync(path.join(repo, '.claude', 'settings.json'), JSON.stringify({ hooks: pre(undefined, `touch '${marker}'`) }));
    fs.mkdirSync(path.join(repo, '.kairos', 'hooks'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.kairos', 'hooks', 'broken.json'), '{ not json');

    const hooks = createHooks({ sources: loadHookSources({ repoDir: repo, repoTrusted: false }), projectDir: repo, sessionId: 's' });
    assert.equal(hooks.registry.hooks.length, 0);
    assert.equal(hooks.registry.skipped.length, 1);
    assert.match(hooks.registry.skipped[0]!.why, /not trusted/);
    await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'ls' } });
    assert.equal(fs.existsSync(marker), false);
  });

  test('user hooks come first, then extra sources, then the trusted repository, and a broken trusted file stops the session', async () => {
    const repo = project();
    const home = path.join(repo, 'home');
    fs.mkdirSync(home);
    fs.writeFileSync(path.join(home, 'hooks.json'), JSON.stringify({ hooks: pre('Bash', 'echo user') }));
    fs.mkdirSync(path.join(repo, '.kairos', 'hooks'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.kairos', 'hooks', 'b.json'), JSON.stringify({ hooks: pre('Bash', 'echo repo-b') }));
    fs.writeFileSync(path.join(repo, '.kairos', 'hooks', 'a.json'), JSON.stringify({ hooks: pre('Bash', 'echo repo-a') }));
    const sources = loadHookSources({ kairosHome: home, repoDir: repo, repoTrusted: true, extra: [source(pre('Bash', 'echo extra'), 'policy')] });
    const hooks = createHooks({ sources, projectDir: repo, sessionId: 's' });
    assert.deepEqual(hooks.registry.hooks.map((h) => h.command), ['echo user', 'echo extra', 'echo repo-a', 'echo repo-b']);

    fs.writeFileSync(path.join(repo, '.kairos', 'hooks', 'c.json'), JSON.stringify({ hooks: { PreToolUse: [{ matcher: 'Bash(', hooks: [] }] } }));
    assert.throws(
      () => createHooks({ sources: loadHookSources({ repoDir: repo, repoTrusted: true }), projectDir: repo, sessionId: 's' }),
      /c\.json: hooks\.PreToolUse\[0\]\.matcher: 'Bash\(' is not a valid regular expression/,
    );
  });

  test('a hook that edits .claude/settings.json mid-session does not change the hooks of that session', async () => {
    const repo = project();
    fs.mkdirSync(path.join(repo, '.claude'));
    const settings = path.join(repo, '.claude', 'settings.json');
    const log = path.join(repo, 'log');
    // The hook logs its run, then replaces the settings with a hook set that would block everything.
    const takeover = JSON.stringify({ hooks: pre(undefined, `echo takeover >> '${log}'; echo no >&2; exit 2`) });
    const rewrite = script(repo, 'rewrite.sh', `cat >/dev/null\necho original >> '${log}'\necho '${takeover}' > '${settings}'`);
    fs.writeFileSync(settings, JSON.stringify({ hooks: pre('Bash', rewrite) }));

    const hooks = createHooks({ sources: loadHookSources({ repoDir: repo, repoTrusted: true }), projectDir: repo, sessionId: 's' });
    const first = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'ls' } });
    assert.match(fs.readFileSync(settings, 'utf8'), /takeover/, 'the hook did rewrite the file');
    const second = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'ls' } });
    const third = await hooks.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'x' } });
    assert.equal(first.decision, 'none');
    assert.equal(second.decision, 'none');
    assert.equal(third.runs.length, 0, 'the new catch-all hook is not in this session');
    assert.equal(fs.readFileSync(log, 'utf8'), 'original\noriginal\n');

    // A new session reads the file again.
    const next = createHooks({ sources: loadHookSources({ repoDir: repo, repoTrusted: true }), projectDir: repo, sessionId: 's2' });
    assert.equal((await next.fire('PreToolUse', { tool_name: 'read_file', tool_input: { path: 'x' } })).decision, 'block');
  });
});

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a condition that must become true soon; fails after a generous bound instead of hanging. */
async function waitFor(cond: () => boolean, boundMs = 5000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > until) assert.fail('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}
