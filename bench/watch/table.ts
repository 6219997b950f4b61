/**
 * The bench's results: every figure named for what it measures, with the peers measured in the same
 * run, the ratio to the reference peer, the target and PASS / FAIL. A figure that could not be
 * measured (a timeout, a crash, lost paths) is FAILED with the reason, never left out.
 */
export type PeerName = 'kairos' | 'kairos-watchman' | 'chokidar' | 'parcel' | 'watchman';

export interface Target {
  /** Human form, e.g. "≤ 1.5× parcel", "= 0", "≤ settle+50 ms". */
  text: string;
  /** Checks the Kairos value (and the peers) against the target. */
  ok(kairos: number, peers: Partial<Record<PeerName, number>>): boolean;
}

export interface Figure {
  section: string;
  name: string;
  unit: string;
  values: Partial<Record<PeerName, number>>;
  /** Which peer the ratio is taken against (raw @parcel/watcher unless said otherwise). */
  ratioTo?: PeerName;
  target?: Target;
  /** Set when the figure could not be measured or a check inside it failed. */
  failed?: string;
  note?: string;
}

export const ratioTarget = (max: number, to: PeerName = 'parcel'): Target => ({
  text: `≤ ${max}× ${to}`,
  ok: (k, p) => p[to] !== undefined && k <= max * Math.max(p[to]!, 1e-9),
});
export const maxTarget = (max: number, text = `≤ ${max}`): Target => ({ text, ok: (k) => k <= max });

export class Results {
  readonly figures: Figure[] = [];

  add(f: Figure): Figure {
    this.figures.push(f);
    const v = Object.entries(f.values).map(([k, x]) => `${k} ${fmt(x)}`).join(', ');
    process.stdout.write(`  [${f.section}] ${f.name}: ${f.failed ? `FAILED (${f.failed})` : v} ${f.unit}${f.note ? ` — ${f.note}` : ''}\n`);
    return f;
  }

  fail(section: string, name: string, unit: string, why: string, target?: Target): void {
    this.add({ section, name, unit, values: {}, failed: why, ...(target ? { target } : {}) });
  }

  verdict(f: Figure): 'PASS' | 'FAIL' | '-' {
    if (f.failed) return 'FAIL';
    if (!f.target) return '-';
    const k = f.values.kairos ?? f.values['kairos-watchman'];
    if (k === undefined) return 'FAIL';
    return f.target.ok(k, f.values) ? 'PASS' : 'FAIL';
  }

  failures(): number {
    return this.figures.filter((f) => this.verdict(f) === 'FAIL').length;
  }

  print(title: string): void {
    const cols: PeerName[] = ['kairos', 'kairos-watchman', 'chokidar', 'parcel', 'watchman'];
    const used = cols.filter((c) => this.figures.some((f) => f.values[c] !== undefined));
    const rows = this.figures.map((f) => {
      const k = f.values.kairos ?? f.values['kairos-watchman'];
      const to = f.ratioTo ?? 'parcel';
      const base = f.values[to];
      const ratio = f.failed || k === undefined || base === undefined ? '' : base === 0 ? (k === 0 ? '1.00×' : '∞') : `${(k / base).toFixed(2)}× ${to}`;
      return [
        f.section,
        f.name,
        f.unit,
        ...used.map((c) => (f.failed && c.startsWith('kairos') ? 'FAILED' : f.values[c] === undefined ? '' : fmt(f.values[c]!))),
        ratio,
        f.target?.text ?? '',
        this.verdict(f),
      ];
    });
    const head = ['section', 'figure', 'unit', ...used.map((c) => (c === 'parcel' ? 'raw parcel' : c === 'chokidar' ? 'raw chokidar' : c)), 'ratio', 'target', 'verdict'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => '| ' + r.map((c, i) => (i >= 3 && i < 3 + used.length + 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
    process.stdout.write(`\n${title}\n${line(head)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
    const notes = this.figures.filter((f) => f.failed);
    for (const f of notes) process.stdout.write(`FAILED ${f.section} / ${f.name}: ${f.failed}\n`);
    process.stdout.write(`${this.failures()} figure(s) FAIL of ${this.figures.length}\n`);
  }
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString('en');
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}
