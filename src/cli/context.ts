import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoCode, isAbsent, UserInputError, messageOf } from '../core/errors.js';

export class UsageError extends UserInputError {
  override name = 'UsageError';
}

/** $KAIROS_HOME, default ~/.kairos: all state (store, socket, logs, policy) lives here. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const home = flag ?? env.KAIROS_HOME ?? path.join(os.homedir(), '.kairos');
  return path.resolve(home);
}

/**
 * A repository argument as the daemon keys it: the real path of the work tree's top folder.
 * A path inside a repository is taken to mean that repository.
 */
export function resolveRepo(dir: string): string {
  let real: string;
  try {
    real = fs.realpathSync(path.resolve(dir));
  } catch (e) {
    if (isAbsent(e)) throw new UsageError(`--repo ${dir}: no such folder`, { cause: e });
    throw new UsageError(`--repo ${dir}: cannot be opened (${errnoCode(e) ?? messageOf(e)}); check its permissions`, { cause: e });
  }
  if (!fs.statSync(real).isDirectory()) throw new UsageError(`--repo ${dir}: not a folder`);
  for (let d = real; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) break;
  }
  throw new UsageError(`--repo ${dir}: not inside a git repository (no .git found). Run 'git init' there, or name the repository's folder.`);
}

/** The repository of the current folder, when --repo is not given. */
export function repoOrCwd(dir: string | undefined): string {
  return resolveRepo(dir ?? process.cwd());
}
