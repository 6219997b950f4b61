import fs from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/** Never watched file by file, whatever the ignore files say: git internals and dependency trees. */
export const BUILTIN_IGNORES = ['.git/', 'node_modules/'];

/** The files whose edits change what is ignored (at any depth); the watcher reloads the rules when one changes. */
export const IGNORE_FILE_NAMES = ['.gitignore', '.kairosignore'];

export function isIgnoreFile(rel: string): boolean {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  return IGNORE_FILE_NAMES.includes(base);
}

/**
 * Decides whether a path in a repository is ignored, honouring the root and nested `.gitignore`
 * and `.kairosignore` files, `.git/info/exclude` and the policy's `ignore` list. Nested files are read
 * lazily, the first time a path below their folder is asked about, so start-up reads only what it walks.
 * The rules are a value: when an ignore file changes the watcher builds new ones and compares.
 */
export class IgnoreRules {
  private readonly perDir = new Map<string, Ignore | null>();
  private readonly root: Ignore;

  constructor(
    private readonly repo: string,
    private readonly extra: readonly string[] = [],
  ) {
    this.root = ignore().add(BUILTIN_IGNORES).add(extra);
    for (const f of ['.gitignore', '.kairosignore', '.git/info/exclude']) {
      const text = readIfFile(path.join(repo, f));
      if (text) this.root.add(text);
    }
  }

  /** The same repository and policy list, with every ignore file read again from disk. */
  reloaded(): IgnoreRules {
    return new IgnoreRules(this.repo, this.extra);
  }

  /** `rel` is repo-relative with forward slashes; `isDir` matters for patterns ending in '/'. */
  ignores(rel: string, isDir: boolean): boolean {
    if (!rel || rel === '.') return false;
    const probe = isDir ? rel + '/' : rel;
    if (this.root.ignores(probe)) return true;
    // Nested .gitignore files: each applies to paths relative to its own folder.
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const rules = this.nested(dir);
      if (!rules) continue;
      const sub = parts.slice(i).join('/');
      if (rules.ignores(isDir ? sub + '/' : sub)) return true;
    }
    return false;
  }

  /** A walker that listed `dir` and saw no ignore file in it saves the rules from trying to read one. */
  noIgnoreFilesIn(dir: string): void {
    if (!this.perDir.has(dir)) this.perDir.set(dir, null);
  }

  private nested(dir: string): Ignore | null {
    let r = this.perDir.get(dir);
    if (r === undefined) {
      const texts = IGNORE_FILE_NAMES.map((f) => readIfFile(path.join(this.repo, dir, f))).filter((t): t is string => !!t);
      r = texts.length ? ignore().add(texts.join('\n')) : null;
      this.perDir.set(dir, r);
    }
    return r;
  }
}

function readIfFile(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    // No ignore file, or one git could not read either (git skips it with a warning): no rules from it, as in git.
    return null;
  }
}
