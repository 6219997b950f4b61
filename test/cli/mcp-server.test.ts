import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { openDb, storePath } from '../../src/store/db.js';
import { ApprovalStore } from '../../src/store/approval-store.js';
import { ProposalStore } from '../../src/store/proposal-store.js';
import { KAIROS_MCP_TOOLS } from '../../src/cli/mcp-server.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { kairosCliArgs, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';

/**
 * `kairos mcp` as an MCP client sees it: the real CLI process spawned by the SDK's stdio client
 * transport, against a real daemon watching a temp repository.
 */

const POLICY = `
triggers:
  - name: hello
    on: {manual: true}
    run: echo hello from kairos
    notify: never
budget: {day_usd: 3, month_usd: 30}
`;
const CLI = kairosCliArgs();
// Shaped like a GitHub token, so the output filter must catch it.
const SECRET = `ghp_${'A1b2C3d4E5'.repeat(4)}`;

interface Answer {
  isError: boolean;
  text: string;
  json: any;
}

describe('kairos mcp', () => {
  const h = makeHome(POLICY);
  let repo: TestRepo;
  let daemon: DaemonProcess;
  let client: Client;
  let stderr = '';

  const call = async (name: string, args: Record<string, unknown> = {}): Promise<Answer> => {
    const r = await client.callTool({ name, arguments: args });
    const content = r.content as Array<{ type: string; text: string }>;
    assert.equal(content.length, 1, `${name} answers one text block`);
    const text = content[0]!.text;
    return { isError: r.isError === true, text, json: JSON.parse(text) };
  };

  before(async () => {
    repo = makeRepo();
    daemon = await spawnDaemon([repo.dir], h.env);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...CLI, 'mcp'],
      env: h.env as Record<string, string>,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'kairos-test', version: '1.0.0' });
    try {
      await client.connect(transport);
    } catch (e) {
      throw new Error(`kairos mcp did not start: ${(e as Error).message}\n${stderr}`);
    }
  });

  after(async () => {
    await client?.close();
    if (daemon && daemon.proc.exitCode === null) {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
    repo?.cleanup();
    h.cleanup();
  });

  test('lists its six tools and no way to approve', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [...KAIROS_MCP_TOOLS].sort());
    for (const t of tools) assert.doesNotMatch(t.name, /approve|apply|deny|reject|accept/i, t.name);
    assert.match(client.getInstructions() ?? '', /no tool to approve/);
    assert.deepEqual(client.getServerVersion()?.name, 'kairos');
  });

  test('status comes from the running daemon', async () => {
    const r = await call('kairos_status');
    assert.equal(r.isError, false, r.text);
    assert.equal(r.json.pid, daemon.pid);
    assert.deepEqual(r.json.repos.map((x: { path: string }) => x.path), [repo.dir]);
  });

  test('events show a file written in the watched repository', async () => {
    repo.write('src/hello.ts', 'export const hello = 1;\n');
    // Writing a new file is a create and then a write: the watcher may report one event (added) or two
    // (added, then changed). Newest first, so the file's first event is the last one listed.
    const found = await waitFor(
      async () => {
        const r = await call('kairos_events', { repo: repo.dir, type: ['file.added', 'file.changed'], limit: 20 });
        assert.equal(r.isError, false, r.text);
        return (r.json as Array<{ path?: string; type: string }>).filter((e) => e.path === 'src/hello.ts').at(-1);
      },
      { what: 'the file event through kairos_events' },
    );
    assert.equal(found.type, 'file.added', 'the first event of a new file says added');
  });

  test('poke creates a manual event (note redacted on the way out) that fires the manual trigger', async () => {
    const r = await call('kairos_poke', { repo: repo.dir, note: `from mcp token=${SECRET}` });
    assert.equal(r.isError, false, r.text);
    const [id] = r.json.events as number[];
    assert.equal(typeof id, 'number');

    const events = await call('kairos_events', { type: 'manual' });
    const manual = (events.json as Array<{ id: number; origin: string; data: { note?: string } }>).find((e) => e.id === id);
    assert.ok(manual, 'the poke is stored as a manual event');
    assert.match(manual.data.note ?? '', /^from mcp token=\[REDACTED/);
    assert.ok(!events.text.includes(SECRET), 'the secret never leaves');

    const task = await waitFor(
      async () => {
        const t = await call('kairos_tasks', { repo: repo.dir, state: 'done' });
        return (t.json as Array<{ trigger: string; output: string }>).find((x) => x.trigger === 'hello');
      },
      { what: 'the manual trigger done, through kairos_tasks' },
    );
    assert.match(task.output, /hello from kairos/);
  });

  test('spend returns the ledger report against the user policy budget', async () => {
    const r = await call('kairos_spend');
    assert.equal(r.isError, false, r.text);
    assert.match(r.json.period, /^\d{4}-\d{2}$/);
    assert.deepEqual(r.json.by_model, {});
    assert.equal(r.json.cache_read_share, 0);
    assert.equal(r.json.day.cap_usd, 3);
    assert.equal(r.json.month.cap_usd, 30);
    assert.equal(r.json.day.spent_usd, 0);
  });

  test('pending lists the approval queue: live rows only, diff redacted', async () => {
    const db = openDb(storePath(h.home));
    const diff = `diff --git a/.env.example b/.env.example\n+GITHUB_TOKEN=${SECRET}\n`;
    const now = Date.now();
    let live: string;
    let gone: string;
    try {
      const proposal = new ProposalStore(db).insert({
        taskId: '1',
        repo: repo.dir,
        base: repo.rev(),
        diff: Buffer.from(diff),
        hash: 'a'.repeat(64),
        summary: 'Document the token variable',
        files: ['.env.example'],
        costMicros: 12_000,
        createdAt: new Date(now).toISOString(),
      });
      const approvals = new ApprovalStore(db);
      const row = (expiresAt: number) =>
        approvals.insert({
          kind: 'proposal',
          proposalId: proposal.id,
          hash: proposal.hash,
          summary: proposal.summary,
          command: null,
          files: proposal.files,
          trigger: 'hello',
          repo: repo.dir,
          taskId: '1',
          costMicros: proposal.costMicros,
          createdAt: new Date(now).toISOString(),
          expiresAt: new Date(expiresAt).toISOString(),
        }).id;
      live = row(now + 3_600_000);
      gone = row(now - 1_000);
    } finally {
      db.close();
    }
    const r = await call('kairos_pending', { include_diff: true });
    assert.equal(r.isError, false, r.text);
    const rows = r.json as Array<{ id: string; kind: string; summary: string; files: string[]; cost_usd: number; hash: string; diff: string }>;
    assert.deepEqual(rows.map((x) => x.id), [live], 'the expired row is not pending');
    const p = rows[0]!;
    assert.deepEqual([p.kind, p.summary, p.files, p.cost_usd, p.hash], ['proposal', 'Document the token variable', ['.env.example'], 0.012, 'a'.repeat(64)]);
    assert.match(p.diff, /GITHUB_TOKEN=\[REDACTED/);
    assert.ok(!r.text.includes(SECRET));
    assert.ok(!r.text.includes(gone));
    const short = await call('kairos_pending', { repo: repo.dir });
    assert.equal('diff' in short.json[0], false);
  });

  test('bad arguments are error values', async () => {
    const r = await call('kairos_events', { repo: '/no/such/folder' });
    assert.equal(r.isError, true);
    assert.equal(r.json.code, 'bad_params');
    assert.match(r.json.error, /no such folder/);
  });

  test('answers the last request even when the client closes stdin right after sending it', () => {
    const lines = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pipe', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'kairos_status', arguments: {} } },
    ];
    const r = spawnSync(process.execPath, [...CLI, 'mcp'], { env: h.env, input: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; result: { content?: Array<{ text: string }> } });
    assert.deepEqual(answers.map((a) => a.id), [1, 2]);
    assert.equal(JSON.parse(answers[1]!.result.content![0]!.text).pid, daemon.pid);
  });

  test('with the daemon down: status and poke say so, the store still answers', async () => {
    daemon.kill('SIGTERM');
    await daemon.exited;
    for (const tool of ['kairos_status', 'kairos_poke']) {
      const r = await call(tool);
      assert.equal(r.isError, true, tool);
      assert.equal(r.json.code, 'daemon_not_running', tool);
      assert.match(r.json.error, /no Kairos daemon is running for .*'kairos start/, tool);
    }
    const events = await call('kairos_events', { limit: 5 });
    assert.equal(events.isError, false);
    assert.ok(events.json.length > 0);
    assert.equal(stderr, '', 'nothing on stderr');
  });
});
