/**
 * Redaction throughput: MB/s of the one redact() every outgoing channel uses, on realistic text of
 * about 1 MB: this repository's own TypeScript sources, a unified diff from its git history, and
 * the same diff with a secret planted every 200 lines. Pass the path of another build's filter
 * module to measure it side by side in the same run, e.g. the main branch before a change:
 *   node dist/bench/redact.js /path/to/other/dist/src/policy/filter.js
 * Not part of `npm test`: numbers, not pass/fail on a noisy machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { redact } from '../src/policy/filter.js';

type RedactFn = (text: string) => { text: string; findings: unknown[] };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MB = 1024 * 1024;

function sources(): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['src', 'daemon', 'test']) walk(path.join(ROOT, d));
  return fill(out.join('\n'));
}

function diff(): string {
  try {
    return fill(execFileSync('git', ['-C', ROOT, 'log', '-p', '--no-color', '-n', '400', '--', 'src'], { maxBuffer: 64 * MB }).toString('utf8'));
  } catch {
    return fill(sources().split('\n').map((l) => `+${l}`).join('\n'));
  }
}

/** Repeats or cuts text to exactly 1 MB. */
function fill(text: string): string {
  let t = text;
  while (t.length < MB) t += '\n' + text;
  return t.slice(0, MB);
}

function planted(text: string): string {
  const lines = text.split('\n');
  for (let i = 100; i < lines.length; i += 200) lines[i] = `+API_KEY=Zq8vT2mWx9rKp4NdB7sLc3Hf${i}`;
  return lines.join('\n');
}

function measure(fn: RedactFn, text: string): { mbps: number; findings: number } {
  fn(text.slice(0, 64 * 1024)); // compile the rules the text needs, warm the JIT
  const runs: number[] = [];
  let findings = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    findings = fn(text).findings.length;
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  return { mbps: text.length / MB / (runs[2]! / 1000), findings };
}

export async function main(other = process.argv[2]): Promise<void> {
  const peers: Array<[string, RedactFn]> = [['this build', (t) => redact(t)]];
  if (other) {
    const mod = (await import(pathToFileURL(path.resolve(other)).href)) as { redact: RedactFn };
    peers.push([other, mod.redact]);
  }
  const corpora: Array<[string, string]> = [
    ['1 MB TypeScript source', sources()],
    ['1 MB unified diff', diff()],
  ];
  corpora.push(['1 MB diff, a secret every 200 lines', planted(corpora[1]![1])]);
  process.stdout.write('\nredaction throughput (median of 5)\n');
  for (const [name, text] of corpora) {
    for (const [peer, fn] of peers) {
      const r = measure(fn, text);
      process.stdout.write(`  ${name.padEnd(38)} ${peer.padEnd(24)} ${r.mbps.toFixed(1).padStart(7)} MB/s  ${r.findings} findings\n`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
