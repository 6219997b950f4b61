import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHooks } from '../../src/agent/hooks.js';
import { loadPlugins, pluginDirs, pluginHookSources, runCommandTool, type CommandTool } from '../../src/agent/plugins.js';
import { REPO_ROOT } from '../support/paths.js';

/** Plugins from real folders (a temp KAIROS_HOME), with real command tools and hooks. */

const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'plugins', 'lint-guard');
let root: string;
let home: string;
let n = 0;

before(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-plugins-')));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A fresh KAIROS_HOME with the given plugin folders (name → manifest object, or the fixture). */
function freshHome(): string {
  home = path.join(root, `home${++n}`);
  fs.mkdirSync(path.join(home, 'plugins'), { recursive: true });
  return home;
}

function pluginAt(dir: string, manifest: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kairos-plugin.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return dir;
}

const minimal = (name: string, extra: object = {}) => ({ name, version: '0.1.0', description: `plugin ${name}`, ...extra });

describe('loadPlugins', () => {
  test('loads a plugin from $KAIROS_HOME/plugins with everything it contributes; its allow rules need explicit trust', () => {
    const h = freshHome();
    fs.cpSync(fixture, path.join(h, 'plugins', 'lint-guard'), { recursive: true });
    const dirs = pluginDirs(h);
    assert.deepEqual(dirs, [path.join(h, 'plugins', 'lint-guard')]);

    const { plugins, errors } = loadPlugins(dirs, { kairosHome: h });
    assert.deepEqual(errors, []);
    const p = plugins[0]!;
    assert.equal(p.name, 'lint-guard');
    assert.equal(p.trust, 'location');
    assert.deepEqual(p.triggers.map((t) => t.name), ['lint-guard-docs']);
    assert.deepEqual(p.tools.map((t) => [t.name, t.plugin, t.dir]), [['word_count', 'lint-guard', p.dir]]);
    assert.deepEqual(Object.keys(p.mcpServers), ['docs']);
    assert.deepEqual(p.permissions, { allow: [], ask: [], deny: ['Bash(git push:*)'] });
    assert.equal(p.refused.length, 1);
    assert.equal(p.refused[0]!.what, 'permissions.allow: plugin__lint-guard__word_count', 'a rule naming its own tool means that tool');
    assert.match(p.refused[0]!.why, /only when you have trusted its folder — review the plugin, then run 'kairos trust --plugin lint-guard'/);
    assert.equal(p.refused[0]!.fix, 'kairos trust --plugin lint-guard');

    const trusted = loadPlugins(dirs, { kairosHome: h, trusted: (d) => d === p.dir });
    assert.equal(trusted.plugins[0]!.trust, 'explicit');
    assert.deepEqual(trusted.plugins[0]!.permissions.allow, ['plugin__lint-guard__word_count']);
    assert.deepEqual(trusted.plugins[0]!.refused, []);
  });

  test('a plugin folder outside $KAIROS_HOME/plugins is refused unless trusted, and a symlink does not sneak one in', () => {
    const h = freshHome();
    const outside = path.join(root, `outside${n}`, 'lint-guard');
    fs.cpSync(fixture, outside, { recursive: true });
    fs.symlinkSync(outside, path.join(h, 'plugins', 'linked'));

    const refused = loadPlugins([outside, ...pluginDirs(h)], { kairosHome: h, trusted: () => false });
    assert.deepEqual(refused.plugins, []);
    assert.equal(refused.errors.length, 2);
    for (const e of refused.errors) {
      assert.equal(e.name, 'PluginError');
      assert.match(e.message, /plugin folder is not trusted, so it was not loaded — move it under \$KAIROS_HOME\/plugins\/, or review it and trust the folder/);
    }
    assert.equal(refused.errors[0]!.dir, outside);

    const allowed = loadPlugins([outside], { kairosHome: h, trusted: (d) => d === outside });
    assert.deepEqual(allowed.plugins.map((p) => p.name), ['lint-guard']);
  });

  test('a broken manifest names the file, the field and the fix, and the other plugins still load', () => {
    const h = freshHome();
    const p = (name: string, manifest: unknown) => pluginAt(path.join(h, 'plugins', name), manifest);
    p('a-good', minimal('a-good'));
    p('b-json', '{"name": "b-json", ');
    fs.mkdirSync(path.join(h, 'plugins', 'c-empty'));
    p('d-fields', {
      ...minimal('d-fields', { version: 'one' }),
      tool: [],
      tools: [
        { name: 'read_file', description: 'x', input_schema: { type: 'object' }, command: 'true' },
        { name: 'ok_tool', description: 'x', input_schema: { type: 'array' }, command: 'true' },
      ],
      permissions: { deny: ['Bash(npm test'] },
      hooks: { PreToolUse: [{ matcher: 'Bash(', hooks: [] }] },
    });
    p('e-good', minimal('e-good'));

    const { plugins, errors } = loadPlugins(pluginDirs(h), { kairosHome: h });
    assert.deepEqual(plugins.map((x) => x.name), ['a-good', 'e-good']);
    const byDir = (name: string) => errors.find((e) => e.dir.endsWith(name))!.message;
    // Every problem is located: file:line:col, then the field, what is wrong and the fix.
    assert.match(byDir('b-json'), /b-json\/kairos-plugin\.json:1:20: JSON syntax error: property name expected — /);
    assert.match(byDir('c-empty'), /c-empty: not a plugin folder — it needs a Claude Code \.claude-plugin\/plugin\.json .* or a Kairos kairos-plugin\.json/);
    const d = byDir('d-fields');
    assert.match(d, /^\S+d-fields\/kairos-plugin\.json:\d+:\d+: /);
    assert.match(d, /kairos-plugin\.json:1:1: unknown key 'tool' — check the spelling; the keys are name, version/);
    assert.match(d, /:\d+:\d+: version: is not a version — write e\.g\. "1\.0\.0"/);
    assert.match(d, /:\d+:\d+: tools\[0\]\.name: is the name of a built-in tool — choose another name/);
    assert.match(d, /:\d+:\d+: tools\[1\]\.input_schema\.type: must be "object"/);
    assert.match(d, /:\d+:\d+: permissions\.deny\[0\]: /);
    assert.match(d, /:\d+:\d+: hooks\.PreToolUse\[0\]\.matcher: 'Bash\(' is not a valid regular expression/);
  });

  test('a second plugin with a name or tool name already taken is skipped with an error', () => {
    const h = freshHome();
    const tool = { name: 'shared', description: 'x', input_schema: { type: 'object' }, command: 'true' };
    pluginAt(path.join(h, 'plugins', 'one'), minimal('one', { tools: [tool] }));
    pluginAt(path.join(h, 'plugins', 'two'), minimal('one'));
    pluginAt(path.join(h, 'plugins', 'three'), minimal('three', { tools: [tool] }));
    const { plugins, errors } = loadPlugins(pluginDirs(h).sort((a, b) => (a.endsWith('one') ? -1 : b.endsWith('one') ? 1 : a.localeCompare(b))), { kairosHome: h });
    assert.deepEqual(plugins.map((p) => p.name), ['one']);
    assert.equal(errors.length, 2);
    assert.match(errors.map((e) => e.message).join('\n'), /name: 'one' is already used by the plugin in/);
    assert.match(errors.map((e) => e.message).join('\n'), /tools: 'shared' is already a tool of plugin 'one' — rename it/);
  });
});

describe('plugin tools and hooks', () => {
  function wordCount(): CommandTool {
    const h = freshHome();
    fs.cpSync(fixture, path.join(h, 'plugins', 'lint-guard'), { recursive: true });
    return loadPlugins(pluginDirs(h), { kairosHome: h }).plugins[0]!.tools[0]!;
  }

  test('a command tool round trip: JSON in on stdin, JSON out on stdout', async () => {
    const tool = wordCount();
    const r = await runCommandTool(tool, { text: 'the quick brown fox' });
    assert.deepEqual(r, { ok: true, output: '{"words":4}', json: { words: 4 } });
  });

  test('a command tool that fails, hangs, answers in text or gets bad input is a value for the model', async () => {
    const base = { plugin: 'p', dir: root, description: 'x', input_schema: { type: 'object' as const, properties: { n: { type: 'integer' } }, required: ['n'] } };
    const text = await runCommandTool({ ...base, name: 'echoer', command: 'cat >/dev/null; echo "plain answer"' }, { n: 1 });
    assert.deepEqual(text, { ok: true, output: 'plain answer\n' });

    const failing = await runCommandTool({ ...base, name: 'failing', command: 'echo "db is locked" >&2; exit 3' }, { n: 1 });
    assert.deepEqual(failing, { ok: false, output: 'failing exited with code 3: db is locked' });

    const hanging = await runCommandTool({ ...base, name: 'hanging', command: 'sleep 30', timeout: 0.5 }, { n: 1 });
    assert.equal(hanging.ok, false);
    assert.match(hanging.output, /^hanging did not finish within 0\.5s and was killed/);

    const missing = await runCommandTool({ ...base, name: 'strict', command: 'exit 99' }, {});
    assert.deepEqual(missing, { ok: false, output: "invalid input for strict: 'n' is required" });
    const wrongType = await runCommandTool({ ...base, name: 'strict', command: 'exit 99' }, { n: 1.5 });
    assert.deepEqual(wrongType, { ok: false, output: "invalid input for strict: 'n' must be an integer" });
  });

  test("a plugin's hooks run with CLAUDE_PLUGIN_ROOT pointing at the plugin", async () => {
    const h = freshHome();
    fs.cpSync(fixture, path.join(h, 'plugins', 'lint-guard'), { recursive: true });
    const { plugins } = loadPlugins(pluginDirs(h), { kairosHome: h });
    const repo = path.join(root, `repo${n}`);
    fs.mkdirSync(repo);
    const hooks = createHooks({ sources: pluginHookSources(plugins), projectDir: repo, sessionId: 's' });
    const push = await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'git push origin main' } });
    assert.equal(push.decision, 'block');
    assert.equal(push.reason, 'lint-guard: pushing is for humans — propose the change instead');
    assert.equal((await hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command: 'git status' } })).decision, 'none');
  });
});
