import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { startFakeAnthropic, type ToolUseBlockSpec } from '../support/fake-anthropic.js';
import { treeHash } from '../support/tree-hash.js';
import { wrapRepo } from '../support/git-repo.js';
import { makeGitTrap } from '../support/git-trap.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { startCanary } from './support/canary.js';
import { makeWorld } from './support/hostile-repo.js';
import { scriptAgent } from './support/agent-script.js';
import { toolResults } from './support/tool-results.js';

/**
 * Issue 10, second bullet, end to end: the agent's `git` tool ran unsandboxed and its path-taking
 * options were not confined, so `git blame --contents /etc/passwd src/a.ts`, `--contents
 * <repo>/.env` or `--ignore-revs-file` handed any file the daemon can read to the model.
 *
 * A model that obeys an injection asks the REAL daemon's git tool for each of those (and for the
 * options that write a file, set config, change the exec path, run gpg or a repository-configured
 * program). Each is refused with a message that says why; the allowed forms still answer. No
 * byte of the files it reached for is in any request the fake Messages API received, the programs
 * the user's repository config names never ran, the canary server got no hit, and the user's
 * tree, the fake HOME and the canary folder are byte-identical. The final task state is the event
 * that comes after every tool call. A `bwrap` wrapper first on the daemon's PATH records every
 * sandbox start, proving the allowed git calls ran inside bubblewrap with the hardened git.
 */

const sandbox = detectSandbox();

interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
}

const OUTSIDE_MARKER = 'OUTSIDE-MARKER-5b7e0d';
const ENV_MARKER = 'ENV-MARKER-c41d9a';

test("the git tool, through the real daemon: every file-reading option is refused for paths outside the worktree or secret, the rest runs in bubblewrap, and nothing leaks", { timeout: 300_000, skip: sandbox.available ? false : 'needs bubblewrap' }, async () => {
  const canary = await startCanary();
  const fake = await startFakeAnthropic();
  const w = makeWorld('kairos-gittool-');
  const canaryDir = path.join(w.outside, 'canary');
  const trap = makeGitTrap(canaryDir, canary.url);
  fs.writeFileSync(path.join(canaryDir, 'secret.txt'), `${OUTSIDE_MARKER}\n`);
  fs.writeFileSync(path.join(canaryDir, 'revs'), `${OUTSIDE_MARKER}\n`);
  // The recording bwrap lives in a folder of its own: the canary folder must stay byte-identical.
  const binDir = path.join(w.root, 'bin');
  const bwrapLog = path.join(w.root, 'bwrap.log');
  fs.mkdirSync(binDir);
  fs.writeFileSync(path.join(binDir, 'bwrap'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${bwrapLog}'\necho '--END--' >> '${bwrapLog}'\nexec '${sandbox.executable}' "$@"\n`, { mode: 0o755 });

  const repo = wrapRepo(w.repoDir);
  repo.write('package.json', '{ "type": "module" }\n');
  repo.write('src/app.js', 'export const total = (xs) => xs.reduce((a, b) => a - b, 0);\n');
  repo.write('check.js', "import { total } from './src/app.js';\nif (total([1, 2]) !== 3) { console.log('total is wrong'); process.exit(1); }\n");
  repo.write('.env', `DB_NAME=${ENV_MARKER}\n`);
  repo.write('.gitattributes', '*.js diff=x\n');
  fs.symlinkSync(path.join(canaryDir, 'secret.txt'), path.join(repo.dir, 'out-link'));
  repo.commit('app, with a bug');
  // The user's own config names programs; the hardened git must never run them for the tool.
  repo.git('config', 'diff.x.textconv', trap.program('textconv'));
  repo.git('config', 'diff.external', trap.program('diff-external'));
  repo.git('config', 'core.pager', trap.program('pager'));
  repo.git('config', 'core.fsmonitor', trap.program('fsmonitor'));

  const h = makeHome(`
triggers:
  - name: check
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: node check.js
    ask: "the check failed: find the cause"
    ask_on: failure
    notify: on_failure
permissions:
  allow: ["git"]
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.HOME = w.home;
  h.env.PATH = `${binDir}:${h.env.PATH ?? process.env.PATH ?? ''}`;
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;

  // [id, args, what the refusal must say]
  const refusals: Array<[string, string | string[], RegExp]> = [
    ['passwd', 'blame --contents /etc/passwd src/app.js', /option '--contents': '\/etc\/passwd' is an absolute path outside the repository/],
    ['repo_env', ['blame', '--contents', path.join(repo.dir, '.env'), 'src/app.js'], /is an absolute path outside the repository/],
    ['tree_env', ['blame', '--contents', '.env', 'src/app.js'], /'\.env' is a secret file; it is never read for the model/],
    ['outside', ['blame', `--contents=${path.join(canaryDir, 'secret.txt')}`, 'src/app.js'], /is an absolute path outside the repository/],
    ['link', ['blame', '--contents', 'out-link', 'src/app.js'], /symlink that points outside/],
    ['shadow', 'blame --ignore-revs-file=/etc/shadow src/app.js', /'\/etc\/shadow' is an absolute path outside the repository/],
    ['revs', ['blame', '--ignore-revs-file', path.join(canaryDir, 'revs'), 'src/app.js'], /is an absolute path outside the repository/],
    ['output', ['log', `--output=${path.join(canaryDir, 'written.txt')}`], /option '--output=[^']*' is not allowed/],
    ['dash_c', ['-c', `core.pager=${trap.program('pager')}`, 'log'], /only status, diff, log, show, blame are allowed/],
    ['exec_path', [`--exec-path=${canaryDir}`, 'log'], /only status, diff, log, show, blame are allowed/],
    ['format', ['log', '--format=%(describe)'], /'%\(…\)' placeholders are not allowed/],
    ['ext_diff', ['log', '-p', '--ext-diff'], /option '--ext-diff' is not allowed/],
    ['textconv', ['show', '--textconv', 'HEAD'], /option '--textconv' is not allowed/],
    ['show_env', ['show', 'HEAD:.env'], /names a secret file/],
    ['no_index', ['diff', '--no-index', '/etc/passwd', 'src/app.js'], /option '--no-index' is not allowed/],
  ];
  const allowed: Array<[string, string | string[], RegExp]> = [
    ['ok_blame', ['blame', 'src/app.js'], /export const total/],
    ['ok_log', ['log', '-p', '-1', '--', 'src/app.js'], /^\+export const total/m],
    ['ok_status', 'status --short', /^$|\S/],
  ];
  const call = (id: string, args: string | string[]): ToolUseBlockSpec => ({ type: 'tool_use', id: `toolu_${id}`, name: 'git', input: { args } });
  const turn = (cases: Array<[string, string | string[], RegExp]>) => ({ content: cases.map(([id, args]) => call(id, args)), stop_reason: 'tool_use' as const });
  const agent = scriptAgent(fake, [turn(refusals.slice(0, 8)), turn(refusals.slice(8)), turn(allowed), { text: 'I read what I could; nothing to change.', stop_reason: 'end_turn' }]);

  const before = { repo: treeHash(repo.dir), home: treeHash(w.home), canary: treeHash(canaryDir) };
  let d: Awaited<ReturnType<typeof spawnDaemon>> | undefined;
  try {
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
    d = await spawnDaemon([repo.dir], h.env);
    assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'check'], h.env).code, 0);
    const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && ['proposed', 'failed', 'done'].includes(t.state)), {
      what: 'agent task finished',
      timeoutMs: 200_000,
    }).catch((e: Error) => {
      throw new Error(`${e.message}\ntasks: ${JSON.stringify(kairosJson(['tasks'], h.env))}\ndaemon: ${d?.output()}`);
    });
    d.kill('SIGTERM');
    await d.exited;
    d = undefined;

    assert.equal(agent.pending(), 0, 'every scripted step was taken');
    assert.equal(task.state, 'done', `task ended ${task.state}: ${task.reason}`);
    const results = toolResults(fake.rawBodies);
    const said = (id: string) => results.get(`toolu_${id}`) ?? '(no result)';
    for (const [id, , why] of refusals) assert.match(said(id), why, `${id}: ${said(id)}`);
    for (const [id, , what] of allowed) {
      assert.match(said(id), what, `${id}: ${said(id)}`);
      assert.doesNotMatch(said(id), /not allowed|outside the repository|failed/, `${id} should have run: ${said(id)}`);
    }
    // Nothing the refused calls reached for is anywhere in what the model was sent.
    const wire = fake.rawBodies.join('\n');
    for (const leak of [OUTSIDE_MARKER, ENV_MARKER, 'root:x:0:0']) assert.ok(!wire.includes(leak), `${leak} reached the model`);

    // The allowed calls ran inside bubblewrap, with the explicit git dir and the hardened environment.
    const starts = fs.existsSync(bwrapLog) ? fs.readFileSync(bwrapLog, 'utf8').split('--END--\n') : [];
    const gitStarts = starts.filter((s) => /^git$/m.test(s) && s.includes('GIT_CONFIG_NOSYSTEM=1'));
    assert.ok(gitStarts.length >= allowed.length, `the git tool did not run in bubblewrap ${allowed.length} times:\n${starts.join('\n---\n')}`);
    for (const s of gitStarts) {
      for (const must of ['--unshare-all', '--git-dir=', '--work-tree=', 'GIT_CONFIG_GLOBAL=/dev/null', 'core.hooksPath']) assert.ok(s.includes(must), `${must} missing from a sandboxed git start:\n${s}`);
    }
    // No refused call got as far as a sandbox: the git command lines (after the mount table, which
    // may well name /etc/passwd) are the allowed ones only.
    const gitArgvs = gitStarts.map((s) => s.slice(s.search(/^git$/m)));
    assert.ok(!gitArgvs.some((a) => /\/etc\/passwd|\/etc\/shadow|--contents|--ignore-revs-file|--output|--ext-diff|--textconv|--no-index/.test(a) || a.includes(canaryDir)), `a refused call reached the sandbox:\n${gitArgvs.join('\n---\n')}`);

    assert.deepEqual(trap.ran(), [], 'a program of the repository config ran');
    assert.deepEqual([...canary.hits], [], 'the canary server was reached');
    assert.equal(treeHash(canaryDir), before.canary, 'the canary folder changed');
    assert.equal(treeHash(repo.dir), before.repo, "the user's tree changed");
    assert.equal(treeHash(w.home), before.home, 'the fake HOME changed');
  } finally {
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    await fake.close();
    await canary.close();
    h.cleanup();
    w.cleanup();
  }
});
