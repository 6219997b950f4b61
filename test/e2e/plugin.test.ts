import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { toolResults } from '../adversarial/support/tool-results.js';
import { REPO_ROOT } from '../support/paths.js';

interface TaskJson { kind: string; trigger: string; state: string; reason: string | null }
interface StatusJson { repos: Array<{ triggers: string[] }> }

const POLICY = `
triggers:
  - name: look
    on: { manual: true }
    ask: "count the words of the README"
    notify: never
permissions: { allow: ["Read", "plugin__lint-guard__word_count"] }
budget: { task_usd: 1 }
models: { act: claude-haiku-4-5 }
`;

test('a plugin in $KAIROS_HOME/plugins adds its trigger, its rules, its hook and its command tool', async () => {
  const fake = await startFakeAnthropic();
  try {
    await scenario(POLICY, async ({ h, repo }) => {
      fs.cpSync(path.join(REPO_ROOT, 'test/fixtures/plugins/lint-guard'), path.join(h.home, 'plugins', 'lint-guard'), { recursive: true });
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      repo.commit('readme', { 'README.md': 'one two three\n' });
      assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
      fake.script(
        { content: [{ type: 'tool_use', id: 'toolu_wc', name: 'plugin__lint-guard__word_count', input: { text: 'one two three' } }], stop_reason: 'tool_use' },
        { content: [{ type: 'tool_use', id: 'toolu_push', name: 'run_command', input: { command: 'git push origin main' } }], stop_reason: 'tool_use' },
        { content: [{ type: 'tool_use', name: 'sleep', input: { reason: 'counted' } }], stop_reason: 'tool_use' },
      );
      await withDaemon([repo.dir], h.env, async () => {
        const status = kairosJson<StatusJson>(['status'], h.env);
        assert.ok(status.repos[0]!.triggers.includes('lint-guard-docs'), 'the plugin trigger is active');
        assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'look'], h.env).code, 0);
        await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && t.state === 'done'), { what: 'agent task done', timeoutMs: 60_000 });
        const tools = (fake.messageRequests()[0]!.body as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
        assert.ok(tools.includes('plugin__lint-guard__word_count'), 'the model is offered the plugin tool');
        const results = toolResults(fake.rawBodies);
        assert.match(results.get('toolu_wc') ?? '', /"words":\s*3/);
        assert.match(results.get('toolu_push') ?? '', /blocked by a PreToolUse hook: lint-guard: pushing is for humans/, "the plugin's hook fires");
        const explain = kairos(['policy', 'explain', 'Bash(git push origin main)', '--repo', repo.dir], h.env);
        assert.match(explain.stdout, /DENY — decided by the permission layer/, "the plugin's deny rule applies");
        assert.match(explain.stdout, /rule: Bash\(git push:\*\)/);
      });
    });
  } finally {
    await fake.close();
  }
});
