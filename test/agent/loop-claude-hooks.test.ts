import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { trustRepo } from '../../src/policy/trust.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { runAgentTask } from '../../src/agent/task.js';
import { startFakeAnthropic, type FakeAnthropic, type RecordedRequest, type Reply } from '../support/fake-anthropic.js';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { toolResults } from '../adversarial/support/tool-results.js';

/**
 * PermissionRequest and the subagent events in a real agent task: the real SDK against the fake
 * Messages API, real worktrees, the real policy layers and sandbox, the user's hooks read from
 * $KAIROS_HOME/hooks.json as the daemon reads them.
 */

let fake: FakeAnthropic;
const tmp = tempDir('kairos-loop-claude-');
before(async () => (fake = await startFakeAnthropic()));
after(async () => {
  await fake.close();
  tmp.cleanup();
});

const tool = (name: string, input: Record<string, unknown>, id?: string): Reply => ({ content: [{ type: 'tool_use', ...(id ? { id } : {}), name, input }], stop_reason: 'tool_use' });
let n = 0;

async function runTask(policyYaml: string, hooks: Record<string, unknown>, instruction = 'do it') {
  const home = path.join(tmp.dir, `h${++n}`);
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'hooks.json'), JSON.stringify({ hooks }));
  const db = openDb(path.join(home, 'kairos.db'));
  const repo = makeRepo();
  repo.commit('a', { 'a.txt': 'a: broken\n' });
  trustRepo(db, repo.dir);
  const policy = parsePolicyText(policyYaml, 'test.yaml');
  const messages: Array<[string, string]> = [];
  const model = createModelClient({ db, budget: policy.budget, models: policy.models, apiKey: 'sk-ant-test', baseURL: fake.url, prices: loadPriceTable(), sleep: async () => {} });
  try {
    const r = await runAgentTask(
      { taskId: 1, repo: repo.dir, trigger: 't', instruction, context: 'a.txt is broken', policy },
      {
        db,
        home,
        model,
        sandbox: detectSandbox(),
        log: { debug() {}, info() {}, warn() {}, error() {} },
        notify: () => {},
        hookMessage: (m, about) => messages.push([about.event, m]),
        limits: { maxTurns: 6, maxTokens: 4096 },
      },
    );
    return { r, home, messages };
  } finally {
    db.close();
    repo.cleanup();
  }
}

const POLICY = `
permissions: { allow: ["Read", "Edit"], deny: ["Bash(rm:*)"] }
budget: { task_usd: 1 }
models: { act: claude-haiku-4-5 }
`;

test('PermissionRequest: a hook allows a command the rules only ask about; its rewrite is checked again; deny with interrupt ends the task', async () => {
  const log = path.join(tmp.dir, 'permission.jsonl');
  // Allows `echo`, rewrites `ls` into `rm` (which the policy denies), denies `npm publish` and stops the task.
  const hook = [
    `input=$(cat); printf '%s\\n' "$input" >> '${log}'`,
    `case "$input" in`,
    `  *'"command":"echo '*) echo '{"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}, "systemMessage": "x"}, "systemMessage": "allowed an echo"}' ;;`,
    `  *'"command":"ls'*) echo '{"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow", "updatedInput": {"command": "rm -f a.txt"}}}}' ;;`,
    `  *'"command":"npm publish'*) echo '{"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": "publishing is for humans", "interrupt": true}}}' ;;`,
    `esac`,
  ].join('\n');
  fake.reset();
  fake.script(
    tool('run_command', { command: 'echo permission-granted' }, 'toolu_echo'),
    tool('run_command', { command: 'ls' }, 'toolu_ls'),
    tool('run_command', { command: 'git status' }, 'toolu_status'),
    tool('run_command', { command: 'npm publish' }, 'toolu_publish'),
    tool('sleep', { reason: 'never reached' }),
  );
  const { r, messages } = await runTask(POLICY, { PermissionRequest: [{ matcher: 'Bash', hooks: [{ type: 'command', command: hook }] }] });
  const results = toolResults(fake.rawBodies);
  assert.match(results.get('toolu_echo') ?? '', /permission-granted/, 'the hook answered the ask: the command ran (in the sandbox)');
  assert.match(results.get('toolu_ls') ?? '', /denied by the permission layer: Bash\(rm -f a\.txt\) is denied by rule Bash\(rm:\*\)/, 'a rewrite is checked like the model wrote it');
  assert.match(results.get('toolu_status') ?? '', /^not run: needs a human's approval \(permission: no rule allows Bash\(git status\)\)/, 'no answer: not run, as before');
  assert.equal(r.state, 'failed');
  assert.match(r.reason, /stopped by a hook: publishing is for humans/);
  assert.deepEqual(messages, [['PermissionRequest', 'allowed an echo']]);
  const sent = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { hook_event_name: string; tool_name: string; tool_input: { command: string }; permission_suggestions: unknown[] });
  assert.deepEqual(sent.map((s) => [s.hook_event_name, s.tool_name, s.tool_input.command]), [
    ['PermissionRequest', 'Bash', 'echo permission-granted'],
    ['PermissionRequest', 'Bash', 'ls'],
    ['PermissionRequest', 'Bash', 'git status'],
    ['PermissionRequest', 'Bash', 'npm publish'],
  ]);
  assert.deepEqual(sent[2]!.permission_suggestions, [{ type: 'addRules', rules: [{ toolName: 'Bash', ruleContent: 'Bash(git status)' }], behavior: 'allow', destination: 'userSettings' }]);
});

test("SubagentStart and SubagentStop fire for a split's workers: start adds context, stop can send a worker back once", async () => {
  const log = path.join(tmp.dir, 'subagents.jsonl');
  const marker = path.join(tmp.dir, 'stopped-once');
  fake.reset();
  const route = (req: RecordedRequest): Reply => {
    const first = req.body?.messages?.[0]?.content;
    const text = typeof first === 'string' ? first : JSON.stringify(first);
    const turn = (req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'assistant').length;
    if (text.startsWith('COORD')) return turn === 0 ? tool('split', { tasks: [{ instruction: 'WORKER: fix a.txt' }] }) : tool('propose', { summary: 'fixed by a worker' });
    if (text.startsWith('WORKER')) return turn === 0 ? tool('write_file', { path: 'a.txt', content: 'a: fixed\n' }) : tool('propose', { summary: `worker turn ${turn}` });
    return { text: 'unrouted' };
  };
  fake.setFallback(route);
  const { r } = await runTask(POLICY.replace('["Read", "Edit"]', '["Read", "Edit", "Write"]'), {
    SubagentStart: [{ matcher: 'worker', hooks: [{ type: 'command', command: `(cat; echo) >> '${log}'; echo '{"hookSpecificOutput": {"hookEventName": "SubagentStart", "additionalContext": "style: keep lines short"}}'` }] }],
    SubagentStop: [{ hooks: [{ type: 'command', command: `(cat; echo) >> '${log}'; if [ -e '${marker}' ]; then exit 0; fi; touch '${marker}'; echo 'run the tests first' >&2; exit 2` }] }],
    Stop: [{ hooks: [{ type: 'command', command: `(cat; echo) >> '${log}'` }] }],
  }, 'COORD: fix a.txt');
  assert.equal(r.state, 'proposed', r.reason);
  const seen = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    seen.map((s) => [s.hook_event_name, s.agent_id, s.agent_type, s.stop_hook_active]),
    [
      ['SubagentStart', '1-w1', 'worker', undefined],
      ['SubagentStop', '1-w1', 'worker', false],
      ['SubagentStop', '1-w1', 'worker', true],
      ['Stop', undefined, undefined, false],
    ],
    "the worker's stop is SubagentStop, the coordinator's is Stop",
  );
  const workerRequests = fake.rawBodies.filter((b) => b.includes('WORKER: fix a.txt'));
  assert.ok(workerRequests[0]!.includes('style: keep lines short'), "SubagentStart's context reaches the worker");
  assert.ok(workerRequests.some((b) => b.includes('A SubagentStop hook asks you to continue: run the tests first')));
});
