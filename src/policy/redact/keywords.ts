/**
 * The keyword prefilter: where each of many keywords occurs in a text, in one scan. A rule's regex
 * runs only when one of its keywords is present (gitleaks' own prefilter), and for a rule whose
 * matches stay on a few lines, only around those places; that is what keeps redaction fast: on
 * ordinary source most of ~220 rules never run, and the rest read a small part of the text.
 *
 * The scan looks up each position's first two characters (lower-cased, ASCII) in a table of the
 * keywords that start with them, and confirms a candidate with startsWith: every occurrence is
 * found, overlapping ones included, in about one table lookup per character.
 */
export class KeywordIndex {
  /** (c0 << 7 | c1) → 1 + index in `lists` of the keywords starting with those two ASCII characters; 0: none. */
  private readonly table = new Int32Array(128 * 128);
  private readonly lists: string[][] = [];
  /** Keywords of one character (none in gitleaks' rules today, but a rule file may have them). */
  private readonly single = new Map<number, string[]>();

  constructor(keywords: Iterable<string>) {
    for (const k of new Set([...keywords].map((x) => x.toLowerCase()).filter(Boolean))) {
      const c0 = k.charCodeAt(0);
      const c1 = k.length > 1 ? k.charCodeAt(1) : -1;
      if (c0 > 127 || c1 > 127) throw new Error(`keyword '${k}': only ASCII keywords are supported`);
      if (c1 < 0) push(this.single, c0, k);
      else {
        const slot = (c0 << 7) | c1;
        if (this.table[slot] === 0) this.table[slot] = this.lists.push([]);
        this.lists[this.table[slot]! - 1]!.push(k);
      }
    }
  }

  /** Each keyword present in `text` (case-insensitive) → the offsets where it starts. */
  scan(text: string): Map<string, number[]> {
    const found = new Map<string, number[]>();
    const n = text.length;
    const table = this.table;
    const lists = this.lists;
    const single = this.single.size > 0;
    // Plain indexed loops and a lower-case table: this runs once per character of every text that leaves.
    let c1 = n > 0 ? text.charCodeAt(0) : 0;
    if (c1 >= 65 && c1 <= 90) c1 += 32;
    for (let i = 0; i < n; i++) {
      const c0 = c1;
      c1 = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c1 >= 65 && c1 <= 90) c1 += 32;
      if (c0 > 127) continue;
      if (single) {
        const l = this.single.get(c0);
        if (l) for (let j = 0; j < l.length; j++) add(found, l[j]!, i);
      }
      if (c1 > 127) continue;
      const slot = table[(c0 << 7) | c1]!;
      if (slot === 0) continue;
      const list = lists[slot - 1]!;
      for (let j = 0; j < list.length; j++) {
        const k = list[j]!;
        if (k.length === 2 || matchesAt(text, i, k)) add(found, k, i);
      }
    }
    return found;
  }
}

function add(found: Map<string, number[]>, k: string, i: number): void {
  const at = found.get(k);
  if (at) at.push(i);
  else found.set(k, [i]);
}

function push(m: Map<number, string[]>, key: number, k: string): void {
  const l = m.get(key);
  if (l) l.push(k);
  else m.set(key, [k]);
}

function matchesAt(text: string, i: number, k: string): boolean {
  if (i + k.length > text.length) return false;
  for (let j = 2; j < k.length; j++) {
    let c = text.charCodeAt(i + j);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== k.charCodeAt(j)) return false;
  }
  return true;
}
