/**
 * A clock and sleep for tests where waiting is the subject: sleep(ms) returns at once and moves the
 * clock forward by ms, and every wait is recorded, so retry-after is asserted without real sleeping.
 */
export class ManualClock {
  readonly sleeps: number[] = [];
  constructor(public t: number = new Date(2026, 10, 24, 10, 15, 0).getTime()) {}
  readonly now = (): number => this.t;
  readonly sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += ms;
  };
  advance(ms: number): void {
    this.t += ms;
  }
}
