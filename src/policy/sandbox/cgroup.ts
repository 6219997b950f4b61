import fs from 'node:fs';
import path from 'node:path';
import type { SandboxLimits } from './limits-config.js';
import { messageOf, errnoCode } from '../../core/errors.js';

/**
 * Control groups for sandboxed commands: one per command, named `kairos-<pid ns>-<daemon pid>-<n>`
 * (see groupPrefix) under the
 * daemon's own group, with a process limit (pids.max) and a memory limit (memory.max, or
 * memory.limit_in_bytes on cgroup v1) that hold for root too. The command joins it before bwrap
 * starts (see joinArgv), so there is no moment when it runs unlimited; afterwards the group is
 * emptied and removed. Groups left by a daemon that was killed are swept at the next start.
 */

export type CgroupLayout =
  | { version: 2; parent: string }
  | { version: 1; pidsParent: string; memoryParent: string };

interface Mount {
  point: string;
  fstype: string;
  superOptions: string[];
}

function readText(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    // A cgroup file this kernel or this user does not have: undefined is "no such control", and the caller reports what it could not set up.
    return undefined;
  }
}

function mounts(procDir: string): Mount[] {
  const out: Mount[] = [];
  for (const line of (readText(path.join(procDir, 'self/mountinfo')) ?? '').split('\n')) {
    // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = left.split(' ')[4];
    const [fstype, , superOpts] = right.split(' ');
    if (point && fstype) out.push({ point: point.replace(/\\040/g, ' '), fstype, superOptions: (superOpts ?? '').split(',') });
  }
  return out;
}

/** This process's group path per hierarchy: "0" → the v2 path, controller name → the v1 path. */
function ownGroups(procDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (readText(path.join(procDir, 'self/cgroup')) ?? '').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.set('0', m[3]!);
    for (const c of m[2]!.split(',')) if (c) out.set(c, m[3]!);
  }
  return out;
}

/** Can a child group be made here and limited? Probed for real: a writable-looking file system may still refuse. */
function probe(parent: string, limitFiles: readonly string[], value: string): string | undefined {
  const dir = path.join(parent, `${groupPrefix()}probe`);
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    return `cannot create a group in ${parent} (${errnoCode(e) ?? messageOf(e)})`;
  }
  try {
    for (const f of limitFiles) if (!fs.existsSync(path.join(dir, f))) return `${parent} does not offer ${f}`;
    fs.writeFileSync(path.join(dir, limitFiles[0]!), value);
    return undefined;
  } catch (e) {
    return `cannot set limits in ${parent} (${errnoCode(e) ?? messageOf(e)})`;
  } finally {
    try {
      fs.rmdirSync(dir);
    } catch {
      // swept later
    }
  }
}

/** cgroup v2: the daemon's group, when it delegates the pids and memory controllers to children. */
export function findCgroup2(procDir = '/proc'): { layout?: CgroupLayout; why: string } {
  const m = mounts(procDir).find((x) => x.fstype === 'cgroup2');
  const own = ownGroups(procDir).get('0');
  if (!m || own === undefined) return { why: 'no cgroup v2 hierarchy' };
  const parent = path.join(m.point, own);
  const controllers = (readText(path.join(parent, 'cgroup.controllers')) ?? '').split(/\s+/);
  if (!controllers.includes('pids') || !controllers.includes('memory')) return { why: `cgroup v2 at ${parent} does not offer the pids and memory controllers` };
  const subtree = (readText(path.join(parent, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  if (!subtree.includes('pids') || !subtree.includes('memory')) {
    try {
      fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), '+pids +memory');
    } catch (e) {
      // EBUSY: the group has processes of its own (v2 allows controllers only on inner groups).
      return { why: `cannot delegate pids and memory under ${parent} (${errnoCode(e) ?? messageOf(e)})` };
    }
  }
  const bad = probe(parent, ['pids.max', 'memory.max'], '64');
  return bad ? { why: bad } : { layout: { version: 2, parent }, why: `cgroup v2 under ${parent}` };
}

/** cgroup v1: writable pids and memory hierarchies (root, or a delegated container). */
export function findCgroup1(procDir = '/proc'): { layout?: CgroupLayout; why: string } {
  const all = mounts(procDir).filter((x) => x.fstype === 'cgroup');
  const own = ownGroups(procDir);
  const pids = all.find((x) => x.superOptions.includes('pids'));
  const memory = all.find((x) => x.superOptions.includes('memory'));
  if (!pids || !memory || own.get('pids') === undefined || own.get('memory') === undefined) return { why: 'no cgroup v1 pids and memory hierarchies' };
  const pidsParent = path.join(pids.point, own.get('pids')!);
  const memoryParent = path.join(memory.point, own.get('memory')!);
  const bad = probe(pidsParent, ['pids.max'], '64') ?? probe(memoryParent, ['memory.limit_in_bytes'], String(64 * 1024 ** 2));
  return bad ? { why: bad } : { layout: { version: 1, pidsParent, memoryParent }, why: `cgroup v1 (pids under ${pidsParent}, memory under ${memoryParent})` };
}

let seq = 0;

/** The inode of this process's pid namespace: pids are only comparable within one. */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    // No /proc (macOS) or no namespace link: one namespace for all, which is what '0' stands for.
    return '0';
  }
}

/** `kairos-<pid ns>-<pid>-`: the start of every group this process makes. */
export function groupPrefix(pid = process.pid): string {
  return `kairos-${pidNamespace()}-${pid}-`;
}

/** One command's group. */
export class RunGroup {
  private constructor(
    readonly layout: CgroupLayout,
    /** The group directories (one for v2; pids and memory for v1). */
    readonly dirs: readonly string[],
  ) {}

  /** Makes the group and sets its limits; throws with the reason when the kernel refuses. */
  static create(layout: CgroupLayout, limits: SandboxLimits): RunGroup {
    const name = `${groupPrefix()}${++seq}`;
    if (layout.version === 2) {
      const dir = path.join(layout.parent, name);
      fs.mkdirSync(dir);
      const g = new RunGroup(layout, [dir]);
      try {
        fs.writeFileSync(path.join(dir, 'pids.max'), String(limits.processes));
        fs.writeFileSync(path.join(dir, 'memory.max'), String(limits.memoryBytes));
        // No swap either, or the memory limit is only a slowdown.
        if (fs.existsSync(path.join(dir, 'memory.swap.max'))) fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
      } catch (e) {
        g.removeNow();
        throw e;
      }
      return g;
    }
    const pidsDir = path.join(layout.pidsParent, name);
    const memDir = path.join(layout.memoryParent, name);
    fs.mkdirSync(pidsDir);
    const g = new RunGroup(layout, [pidsDir, memDir]);
    try {
      fs.mkdirSync(memDir);
      fs.writeFileSync(path.join(pidsDir, 'pids.max'), String(limits.processes));
      fs.writeFileSync(path.join(memDir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      const memsw = path.join(memDir, 'memory.memsw.limit_in_bytes');
      if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(limits.memoryBytes));
    } catch (e) {
      g.removeNow();
      throw e;
    }
    return g;
  }

  /** The files a process writes its pid to, to join. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d, 'cgroup.procs'));
  }

  private get pidsDir(): string {
    return this.dirs[0]!;
  }
  private get memoryDir(): string {
    return this.dirs[this.dirs.length - 1]!;
  }

  /** Times the process limit refused a fork. */
  processLimitHits(): number {
    return Number(/^max (\d+)/m.exec(readText(path.join(this.pidsDir, 'pids.events')) ?? '')?.[1] ?? 0);
  }

  /** Processes the memory limit killed. */
  oomKills(): number {
    const f = this.layout.version === 2 ? 'memory.events' : 'memory.oom_control';
    return Number(/^oom_kill (\d+)/m.exec(readText(path.join(this.memoryDir, f)) ?? '')?.[1] ?? 0);
  }

  /** Most processes at once, where the kernel keeps it (pids.peak). */
  peakProcesses(): number | undefined {
    const v = readText(path.join(this.pidsDir, 'pids.peak'));
    return v === undefined ? undefined : Number(v.trim());
  }

  /** SIGKILLs everything in the group (a daemonised leftover included). */
  killAll(): void {
    if (this.layout.version === 2 && fs.existsSync(path.join(this.pidsDir, 'cgroup.kill'))) {
      try {
        fs.writeFileSync(path.join(this.pidsDir, 'cgroup.kill'), '1');
        return;
      } catch {
        // fall back to one by one
      }
    }
    killListed(this.procsFiles);
  }

  /** Empties and removes the group, waiting briefly for the killed processes to be reaped. */
  async remove(): Promise<void> {
    // Exited processes leave the group a moment after their parent saw them exit: short retries.
    for (let i = 0; i < 200; i++) {
      this.killAll();
      if (this.removeNow()) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** rmdir of every directory; true when none is left. */
  removeNow(): boolean {
    let left = false;
    for (const d of this.dirs) {
      try {
        fs.rmdirSync(d);
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') left = true;
      }
    }
    return !left;
  }
}

function killListed(procsFiles: readonly string[]): void {
  for (const f of procsFiles) {
    for (const pid of (readText(f) ?? '').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/**
 * Removes groups left by daemons that are gone (SIGKILL leaves them behind): their processes are
 * killed, then the directories removed. A group whose daemon is alive is never touched. Returns
 * how many were removed.
 */
export function sweepStaleGroups(layout: CgroupLayout): number {
  const parents = layout.version === 2 ? [layout.parent] : [layout.pidsParent, layout.memoryParent];
  let removed = 0;
  for (const parent of parents) {
    let names: string[];
    try {
      names = fs.readdirSync(parent);
    } catch {
      // A parent group that is gone or not ours has nothing of ours left to remove.
      continue;
    }
    for (const n of names) {
      const m = /^kairos-(\d+)-(\d+)-(?:\d+|probe)$/.exec(n);
      // Only our own pid namespace's: a pid from another container's means nothing here.
      if (!m || m[1] !== pidNamespace() || alive(Number(m[2]))) continue;
      const dir = path.join(parent, n);
      if (layout.version === 2 && fs.existsSync(path.join(dir, 'cgroup.kill'))) {
        try {
          fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
        } catch {
          // fall back to one by one
        }
      }
      killListed([path.join(dir, 'cgroup.procs')]);
      try {
        fs.rmdirSync(dir);
        removed++;
      } catch {
        // still being reaped: the next start takes it
      }
    }
  }
  return removed;
}

/**
 * argv that joins the group and then execs `argv`: `sh -c` writes its own pid (which the exec
 * keeps) to every cgroup.procs first, and exits 125 without running anything if it cannot.
 */
export const JOIN_EXIT = 125;
export function joinArgv(procsFiles: readonly string[], argv: readonly string[]): string[] {
  const script = `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "kairos: cannot join the sandbox's cgroup $1" >&2; exit ${JOIN_EXIT}; }; n=$((n-1)); shift; done; exec "$@"`;
  return ['/bin/sh', '-c', script, 'kairos-limits', String(procsFiles.length), ...procsFiles, ...argv];
}
