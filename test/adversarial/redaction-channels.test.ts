import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { wrapRepo } from '../support/git-repo.js';
import { startFakeAnthropic, type ToolUseBlockSpec } from '../support/fake-anthropic.js';
import { makeWorld } from './support/hostile-repo.js';
import { SECRETS, leaked } from './support/secrets.js';
import { scriptAgent } from './support/agent-script.js';
import { kairosOutputs, leaksIn } from './support/leak-scan.js';
import { toolResults } from './support/tool-results.js';
import { openDb, storePath } from '../../src/store/db.js';

/**
 * One planted secret per outgoing channel, through the real daemon, git, hooks and the fake
 * Messages API: a secret in a file the agent reads, in a command's output, in a file's NAME, in a
 * line the agent adds to a proposal (`+API_KEY=…`), and what a hook is told on its stdin. None may
 * come out of the request bodies, `kairos events/tasks/pending/show/logs`, notifications, the
 * daily log, the log file, the hook's stdin, or the stored task columns.
 */

interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
}

const tool = (id: string, name: string, input: Record<string, unknown>): ToolUseBlockSpec => ({ type: 'tool_use', id: `toolu_${id}`, name, input });
/** Added by the agent as `+API_KEY=…` in a new file: the diff case the old assignment rule missed. */
const ADDED_VALUE = 'Zq8vT2mWx9rKp4NdB7sLc3Hf';
const SECRET_NAME = `keys/${SECRETS.stripeKey}.txt`;

test('a planted secret comes out of no channel: model requests, command output, file names, a proposal diff, hooks, listings, db', { timeout: 150_000 }, async () => {
  const fake = await startFakeAnthropic();
  const agent = scriptAgent(fake);
  const w = makeWorld();
  const hookLog = path.join(w.outside, 'hook-stdin.jsonl');
  const repo = wrapRepo(w.repoDir);
  // A PostToolUse hook that writes everything it is told to a file.
  repo.write('.claude/settings.json', JSON.stringify({ hooks: { PostToolUse: [{ matcher: '', hooks: [{ type: 'command', command: `cat >> ${hookLog}; echo >> ${hookLog}` }] }] } }, null, 2));
  repo.write('src/app.js', `// deploy with this token\nconst token = "${SECRETS.githubToken}";\nexport const total = (a, b) => a - b;\n`);
  repo.write('check.js', `console.log('using key ${SECRETS.printedToken} for the check');\nconsole.log('check failed');\nprocess.exit(1);\n`);
  repo.commit('app');
  const h = makeHome(`
triggers:
  - name: check
    on: { fs: ["keys/**", "src/**"] }
    settle_ms: 300
    run: node check.js
    ask: "the check failed: find the cause and propose a minimal fix"
    ask_on: failure
    notify: on_failure
permissions:
  allow: ["Bash(node --test:*)"]
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6 }
`);
  h.env.HOME = w.home;
  h.env.ANTHROPIC_API_KEY = SECRETS.daemonApiKey;
  h.env.ANTHROPIC_BASE_URL = fake.url;
  let d: DaemonProcess | undefined;
  try {
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
    agent.push(
      { content: [tool('read_app', 'read_file', { path: 'src/app.js' })], stop_reason: 'tool_use' },
      { content: [tool('write_env', 'write_file', { path: 'src/settings.env', content: `API_KEY=${ADDED_VALUE}\n` }), tool('fix', 'edit_file', { path: 'src/app.js', old: 'a - b', new: 'a + b' })], stop_reason: 'tool_use' },
      { content: [tool('propose', 'propose', { summary: 'total() now adds' })], stop_reason: 'tool_use' },
    );
    d = await spawnDaemon([repo.dir], h.env);
    // A file whose NAME is a secret: its fs event fires the trigger (and names it in the agent's context).
    fs.mkdirSync(path.join(repo.dir, 'keys'), { recursive: true });
    fs.writeFileSync(path.join(repo.dir, SECRET_NAME), 'x\n');
    const agentTask = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && ['proposed', 'failed', 'done'].includes(t.state)), {
      what: 'agent task finished',
      timeoutMs: 90_000,
    }).catch((e: Error) => {
      throw new Error(`${e.message}\ntasks: ${JSON.stringify(kairosJson(['tasks'], h.env))}\ndaemon: ${d?.output()}`);
    });
    assert.equal(agent.pending(), 0, 'the scripted agent ran to the end');

    // The proposal would have written a secret into the tree: refused, naming the file and the rule, not the value.
    assert.equal(agentTask.state, 'failed', `${agentTask.state}: ${agentTask.reason}`);
    assert.match(agentTask.reason ?? '', /proposal refused: .*src\/settings\.env: generic-api-key/);
    assert.equal(kairosJson<unknown[]>(['pending'], h.env).length, 0, 'nothing waits for approval');

    // Model requests: the file the agent read and the command output it was given arrive redacted.
    const bodies = fake.rawBodies.join('\n');
    assert.deepEqual(leaked(bodies), [], 'a secret reached the model API');
    assert.ok(!bodies.includes(ADDED_VALUE) || /API_KEY=\[REDACTED/.test(bodies), 'the added value went back to the model unredacted');
    assert.match(toolResults(fake.rawBodies).get('toolu_read_app') ?? '', /const token = "\[REDACTED:github-pat\]"/);
    assert.match(bodies, /\[REDACTED:stripe-access-token\]\.txt/, "the changed file's name is in the agent's context, redacted");

    // The hook was told about every tool call, redacted.
    const told = fs.readFileSync(hookLog, 'utf8');
    assert.match(told, /"tool_name"/, 'the PostToolUse hook ran');
    assert.deepEqual(leaked(told), [], "a secret reached a hook's stdin");
    assert.ok(!told.includes(ADDED_VALUE), "the added secret reached a hook's stdin");

    // Everything a person or a script sees.
    const cli: Record<string, string> = {};
    for (const args of [['events', '--json'], ['events'], ['tasks', '--json'], ['tasks'], ['pending', '--json'], ['logs']]) {
      const r = kairos(args, h.env);
      assert.equal(r.code, 0, `kairos ${args.join(' ')}: ${r.stderr}`);
      cli[`kairos ${args.join(' ')}`] = r.stdout;
    }
    assert.match(cli['kairos events --json']!, /keys\/\[REDACTED:stripe-access-token\]\.txt/, 'the event is listed, its name redacted');
    d.kill('SIGTERM');
    await d.exited;
    d = undefined;
    const outputs = { ...kairosOutputs(h.home), ...cli };
    assert.deepEqual(leaksIn(outputs), []);
    for (const [where, text] of Object.entries(outputs)) assert.ok(!text.includes(ADDED_VALUE), `the added secret is in ${where}`);
    assert.match(outputs['notifications.jsonl']!, /proposal refused/, 'the refusal was notified');

    // The stored columns people are shown: task output (the command's own) and reasons.
    const db = openDb(storePath(h.home));
    try {
      const rows = JSON.stringify(db.prepare('SELECT output, reason, data FROM tasks').all());
      assert.deepEqual(leaked(rows), []);
      assert.match(rows, /using key \[REDACTED:github-pat\]/, "the command's output is stored, redacted");
      assert.equal((db.prepare('SELECT count(*) AS n FROM proposals').get() as { n: number }).n, 0, 'no proposal with a secret was stored');
    } finally {
      db.close();
    }
  } finally {
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    await fake.close();
    w.cleanup();
    h.cleanup();
  }
});
