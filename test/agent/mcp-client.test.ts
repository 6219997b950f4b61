import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectMcpServers, type McpLog, type McpToolbox } from '../../src/agent/mcp-client.js';
import { TOOL_NAME_MAX, ToolNamer } from '../../src/agent/mcp/tool-names.js';
import { toolCallFor } from '../../src/policy/rules.js';
import type { McpServerConfig } from '../../src/policy/schema.js';
import { startFixtureHttpServer, type FixtureHttpServer } from '../support/mcp-fixture-server.js';
import { COMPILED, REPO_ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

/** The fixture as a stdio server command. Under tsx the loader is named by absolute URL: the server's cwd is a temp folder. */
function fixtureCommand(mode: 'stdio' | 'exit'): McpServerConfig {
  const file = COMPILED ? path.join(REPO_ROOT, 'dist/test/support/mcp-fixture-server.js') : path.join(REPO_ROOT, 'test/support/mcp-fixture-server.ts');
  const loader = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];
  return { command: process.execPath, args: [...loader, file, mode] };
}

const API_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const FIXTURE_TOOLS = ['add', 'crash', 'cwd', 'echo', 'env', 'env_names', 'fail', 'lookup.docs', 'lookup_docs', 'sleep'];

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function recorder(): McpLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (_o, m) => lines.push(`info ${m ?? ''}`), warn: (_o, m) => lines.push(`warn ${m ?? ''}`) };
}

describe('connectMcpServers, with the real SDK', () => {
  const work = tempDir('kairos-mcp-client-');
  let http: FixtureHttpServer;
  let box: McpToolbox;
  let closedPort = 0;
  const log = recorder();

  before(async () => {
    http = await startFixtureHttpServer();
    closedPort = await freePort();
    box = await connectMcpServers(
      {
        local: { ...fixtureCommand('stdio'), env: { FIXTURE_FLAG: 'set-by-policy' } },
        remote: { url: http.url, headers: { 'X-Test': 'yes' } },
        broken: fixtureCommand('exit'),
        missing: { command: path.join(work.dir, 'no-such-program') },
        refused: { url: `http://127.0.0.1:${closedPort}/mcp` },
      },
      {
        cwd: work.dir,
        env: { PATH: process.env.PATH, HOME: '/home/kairos-test', ANTHROPIC_API_KEY: 'sk-ant-api03-never-pass-this', OTHER_SECRET: 'x' },
        log,
      },
    );
  });
  after(async () => {
    await box?.close();
    await http?.close();
    work.cleanup();
  });

  test('lists the tools of both servers as mcp__<server>__<tool>, within the API charset', () => {
    const tools = box.tools();
    assert.deepEqual(box.servers().sort(), ['local', 'remote']);
    for (const server of ['local', 'remote']) {
      const mine = tools.filter((t) => t.name.startsWith(`mcp__${server}__`));
      assert.equal(mine.length, FIXTURE_TOOLS.length, server);
    }
    for (const t of tools) assert.match(t.name, API_NAME);
    const echo = tools.find((t) => t.name === 'mcp__local__echo');
    assert.ok(echo, 'mcp__local__echo listed');
    assert.match(echo.description ?? '', /\[MCP server 'local'\] Echoes the text back\./);
    assert.equal(echo.input_schema.type, 'object');
    assert.deepEqual(Object.keys(echo.input_schema.properties as object), ['text']);
    assert.deepEqual(echo.input_schema.required, ['text']);
    // Sanitising "lookup.docs" collides with "lookup_docs": both stay, under different names.
    const lookups = tools.filter((t) => t.name.startsWith('mcp__local__lookup')).map((t) => t.name);
    assert.equal(new Set(lookups).size, 2);
    assert.ok(lookups.includes('mcp__local__lookup_docs'));
    assert.equal(new Set(tools.map((t) => t.name)).size, tools.length, 'names are unique');
  });

  test('a tool name maps to the permission layer as an mcp call', () => {
    assert.deepEqual(toolCallFor('mcp__local__echo', { text: 'x' }), { tool: 'mcp', server: 'local', name: 'echo' });
  });

  test('calls a tool over stdio and over streamable HTTP', async () => {
    assert.deepEqual(await box.call('mcp__local__echo', { text: 'hello' }), { ok: true, output: 'echo: hello' });
    assert.deepEqual(await box.call('mcp__remote__echo', { text: 'over http' }), { ok: true, output: 'echo: over http' });
    assert.ok(http.methods.includes('tools/call'));
  });

  test('joins text blocks and names the others', async () => {
    assert.deepEqual(await box.call('mcp__remote__add', { a: 2, b: 3 }), { ok: true, output: '2 + 3 =\n[image image/png omitted]\n5' });
  });

  test('the two colliding names reach their own tools', async () => {
    const names = box.tools().map((t) => t.name).filter((n) => n.startsWith('mcp__local__lookup'));
    const outputs = await Promise.all(names.map((n) => box.call(n, {})));
    assert.deepEqual(outputs.map((o) => o.output).sort(), ['stdio: dotted', 'stdio: underscored']);
  });

  test('error results, throwing handlers, bad input and unknown tools are values', async () => {
    assert.deepEqual(await box.call('mcp__local__fail', { message: 'no good' }), { ok: false, output: 'failed: no good' });
    const crash = await box.call('mcp__remote__crash', {});
    assert.equal(crash.ok, false);
    assert.match(crash.output, /crashed on purpose/);
    const bad = await box.call('mcp__local__add', { a: 'two' });
    assert.equal(bad.ok, false);
    assert.match(bad.output, /a|b/);
    const unknown = await box.call('mcp__local__nope', {});
    assert.deepEqual(unknown, { ok: false, output: "there is no MCP tool named 'mcp__local__nope'" });
  });

  test('a hanging call times out as a value, and the server still answers after', async () => {
    // A toolbox of its own with a short limit, so the other tests are not held to it.
    const hasty = await connectMcpServers({ local: fixtureCommand('stdio'), remote: { url: http.url } }, { cwd: work.dir, timeoutMs: 1_500 });
    try {
      for (const server of ['local', 'remote']) {
        const r = await hasty.call(`mcp__${server}__sleep`, { ms: 60_000 });
        assert.equal(r.ok, false, server);
        assert.match(r.output, /did not answer within 1500 ms; the call was cancelled/, server);
        assert.deepEqual(await hasty.call(`mcp__${server}__echo`, { text: 'still here' }), { ok: true, output: 'echo: still here' });
      }
    } finally {
      await hasty.close();
    }
  });

  test('a stdio server gets PATH, HOME and its configured env only, in the given cwd', async () => {
    const names = (await box.call('mcp__local__env_names', {})).output.split(',');
    assert.deepEqual(names, ['FIXTURE_FLAG', 'HOME', 'PATH']);
    assert.equal((await box.call('mcp__local__env', { name: 'FIXTURE_FLAG' })).output, 'set-by-policy');
    assert.equal((await box.call('mcp__local__env', { name: 'HOME' })).output, '/home/kairos-test');
    assert.equal((await box.call('mcp__local__env', { name: 'ANTHROPIC_API_KEY' })).output, '(unset)');
    assert.equal((await box.call('mcp__local__env', { name: 'OTHER_SECRET' })).output, '(unset)');
    assert.equal(fs.realpathSync((await box.call('mcp__local__cwd', {})).output), work.dir);
  });

  test('servers that exit at once, are missing or refuse the connection are reported and skipped', () => {
    const failures = Object.fromEntries(box.failures().map((f) => [f.server, f.error]));
    assert.deepEqual(Object.keys(failures).sort(), ['broken', 'missing', 'refused']);
    assert.match(failures.broken!, /MCP server 'broken' .* could not be used: .*it said: fixture: refusing to start/);
    assert.match(failures.missing!, /could not be used: the command was not found/);
    assert.match(failures.refused!, /MCP server 'refused' \(http:\/\/127\.0\.0\.1:\d+\/mcp\) could not be used: fetch failed \(ECONNREFUSED\)/);
    for (const f of Object.values(failures)) assert.match(f, /check its entry under mcp_servers/);
    assert.equal(log.lines.filter((l) => l.startsWith('warn')).length, 3);
    assert.ok(!box.tools().some((t) => /^mcp__(broken|missing|refused)__/.test(t.name)));
  });
});

describe('McpToolbox.close', () => {
  test('stops the stdio server; later calls are values', async () => {
    const work = tempDir('kairos-mcp-close-');
    try {
      const box = await connectMcpServers({ s: fixtureCommand('stdio') }, { cwd: work.dir });
      assert.equal((await box.call('mcp__s__echo', { text: 'a' })).ok, true);
      await box.close();
      await box.close();
      const r = await box.call('mcp__s__echo', { text: 'b' });
      assert.deepEqual(r, { ok: false, output: "MCP tool 'echo' of server 's' is not available: the MCP connections were closed" });
    } finally {
      work.cleanup();
    }
  });

  test('no servers: an empty toolbox', async () => {
    const box = await connectMcpServers({}, { cwd: fileURLToPath(new URL('.', import.meta.url)) });
    assert.deepEqual([box.tools(), box.servers(), box.failures()], [[], [], []]);
    await box.close();
  });
});

describe('ToolNamer', () => {
  test('sanitises, shortens with a stable hash, and never repeats a name', () => {
    const a = new ToolNamer();
    assert.equal(a.assign('gh', 'search/issues'), 'mcp__gh__search_issues');
    const long = 'x'.repeat(100);
    const n1 = a.assign('gh', long);
    assert.equal(n1.length, TOOL_NAME_MAX);
    assert.match(n1, API_NAME);
    assert.equal(new ToolNamer().assign('gh', long), n1, 'same tool, same name');
    const clash = a.assign('gh', 'search.issues');
    assert.notEqual(clash, 'mcp__gh__search_issues');
    assert.match(clash, API_NAME);
    assert.equal(a.assign('gh', ''), 'mcp__gh___');
  });
});
