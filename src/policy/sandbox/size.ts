/**
 * Memory sizes in the policy: a whole number of bytes, or "512MiB", "2GiB", "1.5G", "800M"
 * (K/M/G/T, with or without "i" and "B"; all binary multiples, as ulimit and cgroups count).
 */
const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export const MEMORY_SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;

/** Bytes in a size, or undefined when the text is not one. */
export function parseMemorySize(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  const m = MEMORY_SIZE_RE.exec(v.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (UNIT[(m[2] ?? '').toLowerCase()] ?? 1));
}

/** "2 GiB", "512 MiB": for explanations. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(2))} ${unit}`;
  }
  return `${n} bytes`;
}
