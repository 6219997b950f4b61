import type { Db } from './db.js';

export interface RepoRow {
  path: string;
  added_at: string;
  trusted_at: string | null;
  trusted_policy_sha: string | null;
  watched: number;
  git_state: string | null;
}

/** What the daemon remembers per repository: whether it is watched and the last git state it saw. */
export class RepoStore {
  constructor(private readonly db: Db) {}

  ensure(repo: string, at: string): void {
    this.db.prepare('INSERT OR IGNORE INTO repos (path, added_at) VALUES (?, ?)').run(repo, at);
  }

  setWatched(repo: string, watched: boolean, at: string): void {
    this.ensure(repo, at);
    this.db.prepare('UPDATE repos SET watched = ? WHERE path = ?').run(watched ? 1 : 0, repo);
  }

  watched(): string[] {
    return this.db.prepare<[], { path: string }>('SELECT path FROM repos WHERE watched = 1 ORDER BY path').all().map((r) => r.path);
  }

  gitState(repo: string): string | null {
    const row = this.db.prepare<[string], { git_state: string | null }>('SELECT git_state FROM repos WHERE path = ?').get(repo);
    return row?.git_state ?? null;
  }

  saveGitState(repo: string, state: string): void {
    this.db.prepare('UPDATE repos SET git_state = ? WHERE path = ?').run(state, repo);
  }

  get(repo: string): RepoRow | undefined {
    return this.db.prepare<[string], RepoRow>('SELECT * FROM repos WHERE path = ?').get(repo);
  }
}
