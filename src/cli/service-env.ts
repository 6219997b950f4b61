import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceError } from './service.js';
import { errnoCode, isAbsent, messageOf } from '../core/errors.js';

/**
 * What a login service inherits from the shell that installed it must outlive that shell. `npx
 * kairos service install` runs with npx's own PATH: its temporary cache and every folder's
 * node_modules/.bin up to / (so /tmp/node_modules/.bin, which any user may create) ahead of
 * /usr/bin. Baked into the unit, that PATH would run whatever appears there later as the user's
 * `git` or `npm`. Here the service gets the real node's folder, the user's folders that are stable
 * and private, and the system folders; everything else is dropped and named.
 */

export interface DroppedDir {
  dir: string;
  why: string;
}

export interface ServicePath {
  value: string;
  dropped: DroppedDir[];
  /** Why node's own folder is unfit for a service, or null. Install refuses then; status and uninstall still work. */
  nodeProblem: string | null;
}

export interface ServicePathOptions {
  /** The installing shell's PATH. */
  currentPath: string | undefined;
  /** The node binary the service will run (its folder goes first, so triggers' `node`/`npm` are the same). */
  node: string;
  platform: NodeJS.Platform;
  /** The installing user, who must own (or let root own) every folder kept. */
  uid: number;
  /** Folders whose contents do not last; default /tmp, /var/tmp, /dev/shm and os.tmpdir(). */
  tempRoots?: string[];
}

const SYSTEM_DIRS: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'],
  darwin: ['/opt/homebrew/bin', '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'],
};

const TEMP_ROOTS = ['/tmp', '/var/tmp', '/dev/shm'];
const TEMPORARY = 'a temporary folder';

/** Why a folder must not be on a service's PATH (or hold what it runs), or null when it may. */
export function unstableDirReason(dir: string, o: { uid: number; tempRoots?: string[] }): string | null {
  if (!path.isAbsolute(dir)) return 'a relative folder: it would be looked up wherever the service happens to start';
  const parts = dir.split(path.sep);
  if (parts.includes('_npx')) return "npx's temporary cache (npm deletes it when it likes)";
  if (parts.some((p, i) => p === 'node_modules' && parts[i + 1] === '.bin')) return "a project's node_modules/.bin (npm run and npx add these for one command)";
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (e) {
    if (isAbsent(e)) return 'does not exist';
    return `cannot be opened (${errnoCode(e) ?? messageOf(e)})`;
  }
  const temps = (o.tempRoots ?? [...TEMP_ROOTS, os.tmpdir()]).map((t) => {
    try {
      return fs.realpathSync(t);
    } catch {
      // A temp root this machine does not have is compared by its name: only a match matters here.
      return t;
    }
  });
  if (temps.some((t) => real === t || real.startsWith(t + path.sep))) return TEMPORARY;
  // The folder and every folder above it: a writable ancestor lets anyone swap the folder itself.
  for (let d = real; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const sticky = (st.mode & 0o1000) !== 0;
    if (st.mode & 0o002 && !(sticky && d !== real)) return d === real ? 'writable by every user' : `inside ${d}, which every user may write to`;
    if (st.uid !== 0 && st.uid !== o.uid) return `${d === real ? 'owned' : `inside ${d}, owned`} by another user (uid ${st.uid})`;
    if (path.dirname(d) === d) break;
  }
  return null;
}

export function servicePath(o: ServicePathOptions): ServicePath {
  const check = { uid: o.uid, ...(o.tempRoots ? { tempRoots: o.tempRoots } : {}) };
  const nodeDir = path.dirname(fs.realpathSync(o.node));
  const nodeWhy = unstableDirReason(nodeDir, check);
  const nodeProblem = nodeWhy ? `node is in ${nodeDir}, ${nodeWhy}; a service must not run it from there — install Node.js in a system or home folder` : null;
  const kept: string[] = [nodeDir];
  const dropped: DroppedDir[] = [];
  for (const dir of (o.currentPath ?? '').split(path.delimiter)) {
    if (kept.includes(dir) || dropped.some((d) => d.dir === dir)) continue;
    const why = dir === '' ? 'empty (means the current folder)' : unstableDirReason(dir, check);
    if (why) dropped.push({ dir, why });
    else kept.push(dir);
  }
  for (const dir of SYSTEM_DIRS[o.platform] ?? []) {
    if (!kept.includes(dir) && fs.existsSync(dir) && !unstableDirReason(dir, check)) kept.push(dir);
  }
  return { value: kept.join(path.delimiter), dropped, nodeProblem };
}

/**
 * The service runs Kairos from where this CLI is installed, so that must be an install that stays:
 * a global install or a checkout's dist/, never npx's cache, nor a folder others may write to.
 * A checkout in a temporary folder works until the next reboot: allowed, with a warning (returned).
 */
export function assertStableInstall(cli: string, o: { uid: number; tempRoots?: string[] }): string | null {
  const dir = path.dirname(cli);
  const why = unstableDirReason(dir, o);
  if (!why) return null;
  if (why === TEMPORARY) return `kairos runs from ${dir}, a temporary folder: the service stops working when it is cleared (at the latest, at reboot)`;
  throw new ServiceError(
    `this kairos runs from ${dir}, ${why}; the service would run whatever is there later. Install Kairos first ` +
      "(`npm install -g kairos`, or from a checkout: `npm pack && npm install -g ./kairos-*.tgz`), then run `kairos service install` with that kairos",
  );
}

/** The private file the service reads its secrets from (systemd EnvironmentFile, node --env-file under launchd). */
export function serviceEnvFile(kairosHome: string): string {
  return path.join(kairosHome, 'env');
}

const ENV_TEMPLATE = `# Environment for the Kairos service (\`kairos service install\`), one KEY=value per line, no quotes needed.
# systemd reads it as EnvironmentFile=, launchd's node as --env-file. Keep it private: mode 0600.
# Restart the service after editing (systemctl --user restart kairos, or kairos service install again).
#ANTHROPIC_API_KEY=sk-ant-...
`;

/**
 * Creates the env file (0600, a commented template) when missing; an existing one keeps its
 * content but is made 0600 if others could read it, and is refused if another user owns it.
 * Returns what it did, for the install message.
 */
export function ensureEnvFile(file: string, uid: number): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, ENV_TEMPLATE, { mode: 0o600, flag: 'wx' });
    return `created ${file} (mode 0600): put ANTHROPIC_API_KEY=... there for model steps`;
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') throw e;
  }
  const st = fs.statSync(file); // a dotfile manager's symlink is fine: its target is what is checked
  if (!st.isFile()) throw new ServiceError(`${file} is not a regular file; the service reads its secrets from there — remove it, then install again`);
  if (st.uid !== uid && uid !== 0) throw new ServiceError(`${file} belongs to another user (uid ${st.uid}); the service would take its secrets from them — remove it, then install again`);
  if (st.mode & 0o077) {
    fs.chmodSync(file, 0o600);
    return `${file} was readable by others (mode ${(st.mode & 0o777).toString(8)}); made it 0600`;
  }
  return `the service reads ${file} (mode 0600)`;
}
