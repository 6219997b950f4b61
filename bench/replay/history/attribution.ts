/**
 * Which replayed commit a path "belongs to" at a moment: the latest commit, written before that
 * moment, that changed the path. The fake triage model and the scoring both use this one rule at
 * one moment — when the oracle answered (observe.ts) — so the oracle's answer for a look and the
 * score of that look can never disagree about which commits it was about. (They once used two
 * clocks, the call's and the events', and a commit whose files landed while a look was in flight
 * could be acted on by the oracle yet scored as missed.)
 */
export class PathOwners {
  /** path → [(written at, commit index)], in replay order. */
  private readonly byPath = new Map<string, Array<[number, number]>>();

  /** Commit `index` wrote `paths` at `at` (epoch ms, real time). */
  record(index: number, paths: readonly string[], at: number): void {
    for (const p of paths) {
      const list = this.byPath.get(p) ?? [];
      list.push([at, index]);
      this.byPath.set(p, list);
    }
  }

  /** The commit that last wrote `path` at or before `at`; undefined for a path no replayed commit wrote. */
  ownerAt(path: string, at: number): number | undefined {
    const list = this.byPath.get(path);
    if (!list) return undefined;
    let owner: number | undefined;
    for (const [t, i] of list) {
      if (t > at) break;
      owner = i;
    }
    return owner;
  }

  /** The distinct commits that own any of `paths` at `at`. */
  owners(paths: readonly string[], at: number): number[] {
    const out = new Set<number>();
    for (const p of paths) {
      const o = this.ownerAt(p, at);
      if (o !== undefined) out.add(o);
    }
    return [...out].sort((a, b) => a - b);
  }
}
