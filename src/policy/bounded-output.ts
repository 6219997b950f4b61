/**
 * Keeps the first and last `half` bytes of a stream and counts what was dropped in between,
 * so a command that prints gigabytes costs a fixed amount of memory and the useful ends survive.
 */
export class BoundedOutput {
  private head = '';
  private tail = '';
  private dropped = 0;
  constructor(private readonly half: number) {}

  push(chunk: string): void {
    if (this.head.length < this.half) {
      const room = this.half - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
      if (!chunk) return;
    }
    this.tail += chunk;
    if (this.tail.length > this.half) {
      this.dropped += this.tail.length - this.half;
      this.tail = this.tail.slice(this.tail.length - this.half);
    }
  }

  get omittedBytes(): number {
    return this.dropped;
  }

  toString(): string {
    if (this.dropped === 0) return this.head + this.tail;
    return `${this.head}\n… ${this.dropped} characters omitted …\n${this.tail}`;
  }
}
