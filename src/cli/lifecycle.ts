import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { callDaemon, DaemonNotRunningError } from './control-client.js';
import { printJson } from './output.js';
import { isAlive } from './process-alive.js';
import { daemonRunner } from './daemon-runner.js';
import { DAEMON_NODE_ARGS, daemonEnv } from './daemon-node-args.js';
import { ModelStepsJson, modelStepsText, statusDetailLines, StatusDetailsJson, trustHints } from './status-view.js';

export interface LifecycleContext {
  home: string;
  env: NodeJS.ProcessEnv;
}

const READY_TIMEOUT_MS = 30_000;

const WatcherJson = z.looseObject({
  engine: z.string().nullable(),
  backend: z.string().nullable(),
  reason: z.string(),
  state: z.string(),
  files: z.number(),
  dirs: z.number(),
  elapsed_ms: z.number(),
  offline: z.string(),
  error: z.string().nullable(),
});
type WatcherJson = z.infer<typeof WatcherJson>;

const MemoryStatus = z.looseObject({
  path: z.string(),
  exists: z.boolean(),
  last_dream_at: z.string().nullable(),
  last_run: z.looseObject({ at: z.string().nullable(), state: z.string(), reason: z.string().nullable() }).nullable(),
});
type MemoryStatus = z.infer<typeof MemoryStatus>;

const PluginReportJson = z.looseObject({
  plugins: z.array(z.looseObject({ name: z.string(), version: z.string(), trust: z.string(), refused: z.array(z.looseObject({ what: z.string(), why: z.string() })) })),
  errors: z.array(z.string()),
});
type PluginReportJson = z.infer<typeof PluginReportJson>;

/** The part of the daemon's `status` answer printed here; the rest passes through as it came (`status --json`). */
const DaemonStatus = StatusDetailsJson.extend({
  pid: z.number(),
  started_at: z.string(),
  state: z.string(),
  model_steps: ModelStepsJson,
  repos: z.array(
    z.looseObject({
      path: z.string(),
      trust: z.string(),
      triggers: z.array(z.string()),
      policy_error: z.string().nullable(),
      git_operation: z.string().nullable(),
      watcher: WatcherJson.nullable(),
      memory: MemoryStatus.optional(),
    }),
  ),
  dream: z.looseObject({ enabled: z.boolean(), cron: z.string(), next_at: z.string().nullable() }).optional(),
  running: z.array(z.number()),
  queued: z.array(z.number()),
  events: z.number(),
  store: z.looseObject({ degraded: z.string().nullable(), held: z.number(), dropped: z.number() }).optional(),
  plugins: PluginReportJson.optional(),
});

/** The daemon's answer to `stop`: the process to wait for. */
const StopAnswer = z.looseObject({ pid: z.number() });
type DaemonStatus = z.infer<typeof DaemonStatus>;

export async function daemonStatus(home: string): Promise<DaemonStatus | null> {
  let answer: unknown;
  try {
    answer = await callDaemon(home, 'status', {}, 5000);
  } catch (e) {
    if (e instanceof DaemonNotRunningError) return null;
    throw e;
  }
  const parsed = DaemonStatus.safeParse(answer);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`the daemon's status answer is not what this kairos reads (${issue?.path.join('.') || 'the answer'}: ${issue?.message}); is the running daemon another version? \`kairos stop\`, then start it again`);
  }
  return parsed.data;
}

/** Foreground: this process becomes the daemon (for systemd/launchd and debugging). */
export async function runForeground(ctx: LifecycleContext, repos: string[]): Promise<number> {
  return daemonRunner()({ home: ctx.home, repos, env: ctx.env, verbose: true });
}

/**
 * Background: starts `kairos run` detached and returns once it answers on its socket. If a daemon
 * already runs, the repositories are added to it instead (one daemon watches many repositories).
 */
export async function startBackground(ctx: LifecycleContext, repos: string[]): Promise<number> {
  const running = await daemonStatus(ctx.home);
  if (running) {
    for (const repo of repos) await callDaemon(ctx.home, 'add_repo', { repo });
    process.stdout.write(`kairos: daemon already running (pid ${running.pid}); watching ${repos.join(', ') || 'the same repositories'}\n`);
    printTrustHints(await daemonStatus(ctx.home).catch(() => null), repos);
    return 0;
  }
  fs.mkdirSync(path.join(ctx.home, 'logs'), { recursive: true, mode: 0o700 });
  const outFile = path.join(ctx.home, 'logs', 'daemon.out');
  const out = fs.openSync(outFile, 'a');
  const startOffset = fs.fstatSync(out).size;
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script is running; start with `kairos run` instead');
  // The daemon's own node options first, so any the user gave this node come after them and win.
  const args = [...DAEMON_NODE_ARGS, ...process.execArgv, script, 'run', '--home', ctx.home, ...repos.flatMap((r) => ['--repo', r])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], env: daemonEnv(ctx.env) });
  fs.closeSync(out);
  // In an object: set by the exit callback, which a plain `let` would make the compiler read as never set.
  const exit: { code: number | null } = { code: null };
  child.on('exit', (code) => (exit.code = code ?? 1));
  child.unref();
  let deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProgress = '';
  while (Date.now() < deadline) {
    if (exit.code !== null) {
      process.stderr.write(`kairos: the daemon exited during start (code ${exit.code}). It said (${outFile}):\n${tail(outFile, startOffset, 15)}\n`);
      return exit.code || 1;
    }
    const s = await daemonStatus(ctx.home).catch(() => null);
    if (s?.state === 'indexing') {
      // Answering but still indexing: show progress, and wait as long as it moves.
      const line = indexingLine(s);
      if (line !== lastProgress) {
        process.stdout.write(process.stdout.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
        lastProgress = line;
      }
      deadline = Math.max(deadline, Date.now() + READY_TIMEOUT_MS);
    } else if (s) {
      if (lastProgress && process.stdout.isTTY) process.stdout.write('\n');
      process.stdout.write(`kairos: daemon started (pid ${s.pid}), watching ${s.repos.map((r) => r.path).join(', ')}\n`);
      process.stdout.write(`kairos: state in ${ctx.home}; 'kairos status' to check, 'kairos stop' to stop\n`);
      printTrustHints(s, repos);
      return 0;
    }
    await new Promise((r) => setTimeout(r, s?.state === 'indexing' ? 250 : 100));
  }
  process.stderr.write(`kairos: the daemon did not become ready within ${READY_TIMEOUT_MS / 1000} s; see ${outFile}\n`);
  return 1;
}

export async function stopDaemon(ctx: LifecycleContext, timeoutMs = 20_000): Promise<number> {
  let pid: number;
  try {
    pid = StopAnswer.parse(await callDaemon(ctx.home, 'stop')).pid;
  } catch (e) {
    if (e instanceof DaemonNotRunningError) {
      process.stdout.write('kairos: no daemon running\n');
      return 0;
    }
    throw e;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      process.stdout.write(`kairos: daemon (pid ${pid}) stopped\n`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stderr.write(`kairos: daemon (pid ${pid}) did not stop within ${timeoutMs / 1000} s; 'kill ${pid}' stops it\n`);
  return 1;
}

export async function printStatus(ctx: LifecycleContext, json: boolean): Promise<number> {
  const s = await daemonStatus(ctx.home);
  if (json) {
    printJson(s ?? { running: false, home: ctx.home });
    return s ? 0 : 1;
  }
  if (!s) {
    process.stdout.write(`kairos: not running (home ${ctx.home})\n`);
    return 1;
  }
  process.stdout.write(`kairos: ${s.state === 'indexing' ? 'indexing' : 'running'}, pid ${s.pid}, since ${s.started_at}\n`);
  process.stdout.write(`  model steps: ${modelStepsText(s.model_steps, s.pause)}\n`);
  for (const r of s.repos) {
    process.stdout.write(`  ${r.path}  [${r.trust}]  triggers: ${r.triggers.join(', ') || '(none)'}${r.git_operation ? `  (git ${r.git_operation} in progress)` : ''}\n`);
    if (r.watcher) process.stdout.write(`    watcher: ${watcherLine(r.watcher)}\n`);
    if (r.policy_error) process.stdout.write(`    policy error: ${r.policy_error}\n`);
    if (r.memory) process.stdout.write(`    memory: ${r.memory.path} (${memoryLine(r.memory)})\n`);
  }
  const dream = s.dream;
  if (dream) process.stdout.write(`  dream: ${dream.enabled ? `${dream.cron}, next ${dream.next_at ?? '(unknown)'}; 'kairos dream' runs it now` : 'off in the policy'}\n`);
  process.stdout.write(`  events stored: ${s.events}; running tasks: ${s.running.length}; queued: ${s.queued.length}\n`);
  const store = s.store;
  if (store?.degraded) process.stdout.write(`  store: ${store.degraded}; ${store.held} events held in memory${store.dropped ? `, ${store.dropped} file events dropped` : ''} (written when space returns)\n`);
  const reload = s.policy?.last_reload;
  if (reload && !reload.ok) process.stdout.write(`  policy: the edit at ${reload.at} was not applied (the previous policy is in force): ${reload.error}\n`);
  for (const line of statusDetailLines(s)) process.stdout.write(`${line}\n`);
  printPlugins(s.plugins);
  return 0;
}

/** Loaded plugins in one line each; what one asked for and did not get, with the command that grants it; folders that did not load. */
function printPlugins(r: PluginReportJson | undefined): void {
  if (!r) return;
  for (const p of r.plugins) {
    process.stdout.write(`  plugin ${p.name} ${p.version}${p.trust === 'trusted' ? ' [trusted]' : p.trust === 'changed' ? ' [changed since trusted]' : ''}\n`);
    for (const x of p.refused) process.stdout.write(`    refused ${x.what} — ${x.why}\n`);
  }
  for (const e of r.errors) process.stdout.write(`  plugin not loaded: ${e.split('\n').join('\n    ')}\n`);
}

function printTrustHints(s: DaemonStatus | null, asked: string[]): void {
  for (const line of trustHints(s?.repos ?? [], asked)) process.stdout.write(`${line}\n`);
}



/** "last dream 2026-11-27T03:00:01Z", or why there is none yet. */
function memoryLine(m: MemoryStatus): string {
  const last = m.last_dream_at ? `last dream ${m.last_dream_at}` : m.exists ? 'no dream recorded' : 'not written yet: no dream so far';
  const run = m.last_run && m.last_run.state !== 'done' ? `; latest run ${m.last_run.state} at ${m.last_run.at}${m.last_run.reason ? `: ${m.last_run.reason}` : ''}` : '';
  return `${last}${run}`;
}

/** The last lines written since `from`, so an old run's output is not mistaken for this one's. */
function tail(file: string, from: number, n: number): string {
  try {
    return fs.readFileSync(file).subarray(from).toString('utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    // Only an excerpt for an error message: the full log file is where it was.
    return '(no output)';
  }
}



function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** One line of start-up progress: every repository's files indexed so far and the time spent. */
function indexingLine(s: DaemonStatus): string {
  const repos = s.repos.filter((r) => r.watcher?.state === 'indexing');
  const files = repos.reduce((n, r) => n + (r.watcher?.files ?? 0), 0);
  const elapsed = Math.max(0, ...repos.map((r) => r.watcher?.elapsed_ms ?? 0));
  const names = repos.map((r) => r.path).join(', ');
  return `kairos: indexing ${names || 'repositories'}: ${files.toLocaleString('en-US')} files, ${seconds(elapsed)}`;
}

/** How `status` describes a repository's watcher: engine, state, and why when it is not the native one or not running. */
function watcherLine(w: WatcherJson): string {
  const engine = w.engine ? `${w.engine}${w.backend && w.backend !== w.engine ? ` (${w.backend})` : ''}` : 'starting';
  if (w.state === 'indexing') return `${engine}, indexing: ${w.files.toLocaleString('en-US')} files, ${seconds(w.elapsed_ms)}`;
  if (w.state === 'failed' || w.state === 'lost') return `${engine}, ${w.state.toUpperCase()}: ${w.error ?? 'unknown reason'}`;
  const why = w.engine === 'chokidar' ? ` — ${w.reason}` : '';
  return `${engine}, ${w.state} ${w.files.toLocaleString('en-US')} files (indexed in ${seconds(w.elapsed_ms)})${why}`;
}
