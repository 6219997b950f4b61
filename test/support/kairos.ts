import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRepo, type TestRepo } from './git-repo.js';

const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');
/** The real CLI entry: the compiled one under dist/, or the source through tsx when a test runs from source. */
const cliArgs = fromSource
  ? ['--import', 'tsx', path.resolve(path.dirname(here), '../../bin/kairos.ts')]
  : [path.resolve(path.dirname(here), '../../bin/kairos.js')];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temp KAIROS_HOME with notifications recorded, never shown, and no API key. */
export function makeHome(policyYaml?: string): { home: string; env: NodeJS.ProcessEnv; cleanup(): void } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-home-'));
  if (policyYaml !== undefined) fs.writeFileSync(path.join(home, 'policy.yaml'), policyYaml);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAIROS_HOME: home,
    KAIROS_NOTIFY: 'off',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    // The native engine unless a test chooses: with `auto`, a machine with watchman installed would
    // start the user's own Watchman server, shared by every test and left running after them. The
    // Watchman tests run a private server (test/support/watchman.ts).
    KAIROS_WATCHER: process.env.KAIROS_WATCHER ?? 'native',
  };
  delete env.ANTHROPIC_API_KEY;
  delete env.ANTHROPIC_BASE_URL;
  // Set by node's test runner: a repository's own `node --test` run by the daemon would skip itself.
  delete env.NODE_TEST_CONTEXT;
  return { home, env, cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}

export function kairos(args: string[], env: NodeJS.ProcessEnv, cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [...cliArgs, ...args], { env, cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function kairosJson<T = unknown>(args: string[], env: NodeJS.ProcessEnv): T {
  const r = kairos([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`kairos ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface DaemonProcess {
  proc: ChildProcess;
  pid: number;
  output(): string;
  /** Exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Spawns `kairos run` (the real daemon, foreground) and resolves once it has indexed its trees (generous: a loaded machine is slow). */
export async function spawnDaemon(repos: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<DaemonProcess> {
  const proc = spawn(process.execPath, [...cliArgs, 'run', ...repos.flatMap((r) => ['--repo', r])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    () => {
      if (gone) throw new Error(`daemon exited during start:\n${out}`);
      // Ready means indexed and watching: the socket already answers while the trees are indexed.
      const r = kairos(['status', '--json'], env);
      return r.code === 0 && (JSON.parse(r.stdout) as { state?: string }).state !== 'indexing';
    },
    { timeoutMs, what: 'daemon ready' },
  ).catch((e: unknown) => {
    proc.kill('SIGKILL'); // a daemon that never got ready must not outlive the test
    throw e;
  });
  return { proc, pid: proc.pid!, output: () => out, exited, kill: (s) => proc.kill(s) };
}

/** Polls until `fn` returns a truthy value; the timeout is generous because these machines are noisy. */
export async function waitFor<T>(fn: () => T | Promise<T>, o: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
      if ((e as Error).message.startsWith('daemon exited')) throw e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 150));
  }
}

/** The node arguments that start the real CLI (before its own arguments), for tests that spawn it their own way, e.g. as an MCP server. */
export function kairosCliArgs(): string[] {
  return [...cliArgs];
}

/** A temp KAIROS_HOME with this policy and a fresh git repository, both removed afterwards. */
export async function scenario(policyYaml: string | undefined, fn: (s: { h: ReturnType<typeof makeHome>; repo: TestRepo }) => Promise<void>): Promise<void> {
  const h = makeHome(policyYaml);
  const repo = makeRepo();
  try {
    await fn({ h, repo });
  } finally {
    repo.cleanup();
    h.cleanup();
  }
}

/** Runs `fn` against a real daemon on these repositories, stopping it with SIGTERM afterwards. */
export async function withDaemon<T>(repos: string[], env: NodeJS.ProcessEnv, fn: (d: DaemonProcess) => Promise<T>): Promise<T> {
  const d = await spawnDaemon(repos, env);
  try {
    return await fn(d);
  } finally {
    d.kill('SIGTERM');
    await d.exited;
  }
}
