import fs from 'node:fs';
import path from 'node:path';

/**
 * What a sandboxed command sees of the repository's git data. A test that runs `git status` or
 * `git log` needs it, so the common git dir is shown read-only (nothing there can be planted or
 * changed from inside), with its `config` replaced by one that keeps only the settings git needs
 * to read the repository at all: the format version and extensions. Remote URLs (which can hold
 * credentials), includes, hooksPath, fsmonitor, filters and aliases are left out, so nothing the
 * config names runs inside the box either.
 */

/** The repository's common git dir (where objects and refs live), or undefined when there is none. */
export function gitCommonDir(repo: string): string | undefined {
  const dotGit = path.join(repo, '.git');
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dotGit);
  } catch {
    // No .git (or not one this user can see): no git view to mount; git then fails inside the sandbox and says so.
    return undefined;
  }
  try {
    if (st.isDirectory()) return fs.realpathSync(dotGit);
    if (!st.isFile()) return undefined;
    // A linked worktree or submodule: "gitdir: <dir>", whose commondir file names the shared one.
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(fs.readFileSync(dotGit, 'utf8'));
    if (!m?.[1]) return undefined;
    const gitDir = path.resolve(repo, m[1]);
    const commonFile = path.join(gitDir, 'commondir');
    const common = fs.existsSync(commonFile) ? path.resolve(gitDir, fs.readFileSync(commonFile, 'utf8').trim()) : gitDir;
    return fs.realpathSync(common);
  } catch {
    // A .git file pointing nowhere: no git view to mount, as for a missing .git.
    return undefined;
  }
}

/** Keys kept from the real config, as `section.key` (lower case, as git compares them). */
const KEPT = /^(core\.(repositoryformatversion|bare|filemode|symlinks|ignorecase|precomposeunicode|logallrefupdates)|extensions\.[a-z0-9]+)$/;
const SAFE_VALUE = /^[A-Za-z0-9._-]{1,64}$/;

/** The reduced config, as git config text. */
export function sanitizedGitConfig(commonDir: string): string {
  let text = '';
  try {
    const fd = fs.openSync(path.join(commonDir, 'config'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      if (fs.fstatSync(fd).isFile()) text = fs.readFileSync(fd, 'utf8').slice(0, 1024 * 1024);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // no config: git's defaults
  }
  const kept = new Map<string, Map<string, string>>();
  let section: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[\s*([A-Za-z0-9.-]+)\s*(?:"[^"]*")?\s*\]/.exec(line);
    if (head) {
      // A subsection ([remote "origin"]) is never kept.
      section = line.includes('"') ? undefined : head[1]!.toLowerCase();
      continue;
    }
    if (!section) continue;
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!kv) continue;
    const key = kv[1]!.toLowerCase();
    const value = (kv[2] ?? 'true').trim();
    if (!KEPT.test(`${section}.${key}`) || !SAFE_VALUE.test(value)) continue;
    if (!kept.has(section)) kept.set(section, new Map());
    kept.get(section)!.set(key, value);
  }
  if (!kept.get('core')?.has('repositoryformatversion')) {
    if (!kept.has('core')) kept.set('core', new Map());
    kept.get('core')!.set('repositoryformatversion', '0');
  }
  const out: string[] = ['# Made by Kairos for the sandbox: the repository config reduced to its format settings.'];
  for (const [s, keys] of kept) {
    out.push(`[${s}]`);
    for (const [k, v] of keys) out.push(`\t${k} = ${v}`);
  }
  return out.join('\n') + '\n';
}
