import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { startFakeAnthropic, type ToolUseBlockSpec } from '../support/fake-anthropic.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { scriptAgent } from './support/agent-script.js';
import { toolResults } from './support/tool-results.js';

/**
 * Hostile resources through the real daemon, agent loop and sandbox, with a model that does what
 * an injection tells it: a fork bomb from a "test script", then a FIFO it made and asks to read.
 * The bomb must stay within the policy's process limit and be stopped; the FIFO read must come back
 * as a tool error at once, while the daemon keeps answering and storing events.
 */

interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
}

const hostProcesses = (): number => fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;

test('a fork bomb and a FIFO from the agent cannot hurt the daemon or the host', { timeout: 180_000 }, async (t) => {
  const sandbox = detectSandbox();
  if (!sandbox.available) return t.skip(`bubblewrap not usable here: ${sandbox.detail}`);
  const fake = await startFakeAnthropic();
  const h = makeHome(`
triggers:
  - name: look
    on: { manual: true }
    ask: "run the project's test script and read src/pipe"
    notify: never
permissions:
  allow: ["Bash(mkfifo:*)", "Bash(sh bomb.sh)"]
sandbox:
  limits: { processes: 64 }
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  const repo = makeRepo();
  const ids: Record<string, string> = {};
  const use = (id: string, name: string, input: Record<string, unknown>): ToolUseBlockSpec => {
    ids[id] = `toolu_${id}`;
    return { type: 'tool_use', id: `toolu_${id}`, name, input };
  };
  const turn = (...uses: ToolUseBlockSpec[]) => ({ content: uses, stop_reason: 'tool_use' as const });
  // After the FIFO read the model "thinks" for a while: the daemon is waiting on the network, not
  // on the FIFO, and the test checks it answers and stores events meanwhile.
  const agent = scriptAgent(fake, [
    turn(use('write_bomb', 'write_file', { path: 'bomb.sh', content: 'bomb() { bomb | bomb & }; bomb; sleep 60; echo survived\n' }), use('mkfifo', 'run_command', { command: 'mkfifo src/pipe' })),
    turn(use('bomb', 'run_command', { command: 'sh bomb.sh' })),
    turn(use('read_fifo', 'read_file', { path: 'src/pipe' })),
    { delayMs: 15_000, then: { text: 'nothing more to do', stop_reason: 'end_turn' } },
  ]);
  let d: Awaited<ReturnType<typeof spawnDaemon>> | undefined;
  let peak = 0;
  let sampling = true;
  const before = hostProcesses();
  const sampler = (async () => {
    // Sampled all along; each sample is one readdir of /proc.
    while (sampling) {
      peak = Math.max(peak, hostProcesses());
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    repo.commit('a project', { 'src/a.js': 'export const a = 1;\n' });
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
    d = await spawnDaemon([repo.dir], h.env);
    assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'look'], h.env).code, 0);

    // The model was asked again after the FIFO read: the read came back.
    await waitFor(() => toolResults(fake.rawBodies).has(ids.read_fifo!), { what: 'the read_file result reached the model', timeoutMs: 90_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\ndaemon: ${d?.output()}`);
    });
    // Meanwhile (the model's answer is still pending): the daemon answers and stores a new change.
    const status = kairos(['status', '--json'], h.env);
    assert.equal(status.code, 0, status.stderr);
    const running = kairosJson<TaskJson[]>(['tasks'], h.env).find((x) => x.kind === 'agent');
    assert.equal(running?.state, 'running', 'the agent task is still waiting for the model');
    repo.write('src/later.js', 'export const later = true;\n');
    await waitFor(
      () => kairosJson<Array<{ path?: string }>>(['events', '--repo', repo.dir], h.env).some((e) => e.path === 'src/later.js'),
      { what: 'the later change stored', timeoutMs: 30_000 },
    );

    await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((x) => x.kind === 'agent' && ['proposed', 'failed', 'done'].includes(x.state)), {
      what: 'agent task finished',
      timeoutMs: 60_000,
    });
    assert.equal(agent.pending(), 0);

    const results = toolResults(fake.rawBodies);
    const said = (id: string): string => results.get(ids[id]!) ?? assert.fail(`no result for ${id}`);
    assert.match(said('mkfifo'), /exit code 0/);
    assert.match(said('bomb'), /stopped: it reached its process limit/);
    assert.doesNotMatch(said('bomb'), /survived/);
    assert.match(said('read_fifo'), /src\/pipe is a FIFO \(named pipe\); file tools read and write regular files only/);
    t.diagnostic(`limits backend ${sandbox.limits?.backend}; host processes ${before} before, ${peak} at most`);
    if (sandbox.limits?.backend === 'cgroup1' || sandbox.limits?.backend === 'cgroup2') {
      // Other work on the machine moves the count a little; an unlimited bomb adds thousands.
      assert.ok(peak - before < 64 + 200, `host processes went from ${before} to ${peak}`);
    }
  } finally {
    sampling = false;
    await sampler;
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    await fake.close();
    repo.cleanup();
    h.cleanup();
  }
});
