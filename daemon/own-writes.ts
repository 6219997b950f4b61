/**
 * Paths the daemon itself is about to write in a user's repository (applying an approved proposal,
 * undoing one). Their file events are tagged `origin: daemon` so the daemon never triggers itself.
 */
export class OwnWrites {
  private readonly marks = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  mark(repo: string, rel: string, ttlMs = 10_000): void {
    this.marks.set(`${repo}\0${rel}`, this.now() + ttlMs);
  }

  has(repo: string, rel: string): boolean {
    const key = `${repo}\0${rel}`;
    const until = this.marks.get(key);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.marks.delete(key);
      return false;
    }
    return true;
  }
}
