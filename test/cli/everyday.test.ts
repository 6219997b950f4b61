import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { openDb, storePath } from '../../src/store/db.js';
import { SpendLedger } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { kairos, kairosCliArgs, makeHome } from '../support/kairos.js';
import { REPO_ROOT } from '../support/paths.js';

/** The CLI as a user meets it without a daemon: each of these once answered wrongly or crashed. */

const execFileAsync = promisify(execFile);
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function withHome(policy: string | undefined, fn: (h: ReturnType<typeof makeHome>) => void): void {
  const h = makeHome(policy);
  try {
    fn(h);
  } finally {
    h.cleanup();
  }
}

describe('kairos logs --date', () => {
  test('a day that does not exist is refused, naming what is wrong, instead of rolling over to another day', () => {
    withHome(undefined, (h) => {
      for (const [date, why] of [
        ['2026-13-45', /there is no month 13/],
        ['2026-02-30', /2026-02 has no day 30/],
        ['2026-00-10', /there is no month 00/],
        ['2026-4-1', /expected a day as YYYY-MM-DD/],
        ['yesterday', /expected a day as YYYY-MM-DD/],
      ] as const) {
        const r = kairos(['logs', '--date', date], h.env);
        assert.equal(r.code, 2, `--date ${date}: ${r.stdout}`);
        assert.match(r.stderr, new RegExp(`^kairos: --date ${date}: `));
        assert.match(r.stderr, why);
        assert.equal(r.stdout, '', 'nothing is shown for another day');
        assert.doesNotMatch(r.stderr, STACK);
      }
    });
  });

  test('a real day (a leap day too) is shown, or said to be empty', () => {
    withHome(undefined, (h) => {
      const file = path.join(h.home, 'logs', '2028', '02', '2028-02-29.md');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '# 2028-02-29\n- leap day entry\n');
      const r = kairos(['logs', '--date', '2028-02-29'], h.env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '# 2028-02-29\n- leap day entry\n');
      const empty = kairos(['logs', '--date', '2027-02-28'], h.env);
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.stdout, /nothing logged on 2027-02-28/);
    });
  });
});

test('kairos tray without a display exits 1 and says why', () => {
  withHome(undefined, (h) => {
    const env = { ...h.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const r = kairos(['tray'], env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /graphical session/);
  });
});

describe('pause / resume without a daemon', () => {
  test('resume when nothing is paused says so; pause twice says "already"; each exits 0', () => {
    withHome(undefined, (h) => {
      const notPaused = kairos(['resume'], h.env);
      assert.equal(notPaused.code, 0, notPaused.stderr);
      assert.equal(notPaused.stdout, 'kairos: not paused; nothing to resume\n');
      const paused = kairos(['pause'], h.env);
      assert.match(paused.stdout, /^kairos: paused since /);
      const again = kairos(['pause'], h.env);
      assert.match(again.stdout, /^kairos: already paused since /);
      assert.equal(again.stdout.match(/since (\S+);/)?.[1], paused.stdout.match(/since (\S+);/)?.[1], 'the first pause time is kept');
      const resumed = kairos(['resume'], h.env);
      assert.equal(resumed.stdout, 'kairos: resumed\n');
      assert.equal(kairos(['resume'], h.env).stdout, 'kairos: not paused; nothing to resume\n');
    });
  });
});

describe('--help', () => {
  /** The names in the help's Commands: section (it ends at the first blank line). */
  const commandsOf = (help: string): string[] => {
    const at = help.indexOf('\nCommands:\n');
    if (at < 0) return [];
    const section = help.slice(at).split('\n\n')[0]!;
    return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  };
  /** At most `n` at once: every process is a whole node start on a machine shared with other tests. */
  const mapLimited = async <T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> => {
    const out: R[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(n, items.length) }, async () => {
        while (next < items.length) {
          const i = next++;
          out[i] = await fn(items[i]!);
        }
      }),
    );
    return out;
  };

  test('no option shows its default twice, for every command and subcommand', async () => {
    const h = makeHome();
    try {
      const help = async (args: string[]): Promise<string> => {
        const r = await execFileAsync(process.execPath, [...kairosCliArgs(), ...args, '--help'], { env: h.env, encoding: 'utf8', timeout: 60_000 });
        return r.stdout;
      };
      // Level by level, each level's help in parallel: one process per command, so not one by one.
      const texts = new Map<string, string>([['', await help([])]]);
      let level = [''];
      for (let depth = 0; depth < 2; depth++) {
        const next = level.flatMap((parent) => commandsOf(texts.get(parent)!).map((c) => (parent ? `${parent} ${c}` : c)));
        const got = await mapLimited(next, 3, (c) => help(c.split(' ')));
        next.forEach((c, i) => texts.set(c, got[i]!));
        level = next;
      }
      for (const c of ['events', 'tasks', 'policy explain', 'service install']) assert.ok(texts.has(c), `visited ${c}: ${[...texts.keys()].join(', ')}`);
      for (const [c, text] of texts) {
        for (const line of text.split('\n')) assert.ok((line.match(/\(default/g) ?? []).length <= 1, `kairos ${c} --help: ${line.trim()}`);
      }
      assert.match(texts.get('events')!, /--limit <n> +at most this many \(default: 100\)\n/);
    } finally {
      h.cleanup();
    }
  });

  test('--version prints the version of the package kairos runs from', () => {
    withHome(undefined, (h) => {
      const r = kairos(['--version'], h.env);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    });
  });
});

test('kairos spend labels the percentage as the used share, next to what is left', () => {
  withHome('budget: { day_usd: 2, month_usd: 20 }\n', (h) => {
    const db = openDb(storePath(h.home));
    const ledger = new SpendLedger(db, { prices: loadPriceTable(), budget: { day_usd: 2, month_usd: 20 } });
    const r = ledger.reserve({ model: 'claude-sonnet-4-6', inputTokens: 10_000, maxTokens: 1000, purpose: 'ambient', trigger: 't' }, Date.now());
    assert.ok(r.ok, JSON.stringify(r));
    ledger.settle(r.id, { input_tokens: 10_000, output_tokens: 1000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }, Date.now());
    db.close();
    const json = JSON.parse(kairos(['spend', '--json'], h.env).stdout) as { day: { spent_usd: number; reserved_usd: number; left_usd: number; cap_usd: number } };
    const used = Math.round(((json.day.spent_usd + json.day.reserved_usd) / json.day.cap_usd) * 100);
    assert.ok(used > 0 && used < 50, `a small share of the cap is used: ${used} %`);
    const text = kairos(['spend'], h.env);
    assert.equal(text.code, 0, text.stderr);
    const day = text.stdout.split('\n').find((l) => l.startsWith('day '));
    assert.match(day ?? '', new RegExp(`left +\\$${json.day.left_usd.toFixed(2)} of \\$2\\.00 \\(${used} % used\\)$`), day);
  });
});

test('policy check suggests the valid key nearest by edit distance: ask_onn → ask_on, not ask', () => {
  withHome(undefined, (h) => {
    const file = path.join(h.home, 'typo.yaml');
    fs.writeFileSync(file, 'triggers:\n  - name: t\n    on: { manual: true }\n    run: npm test\n    ask: fix it\n    ask_onn: failure\n    notfy: always\n');
    const r = kairos(['policy', 'check', file], h.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown key 'ask_onn' — did you mean 'ask_on'\?/);
    assert.match(r.stderr, /unknown key 'notfy' — did you mean 'notify'\?/);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6`), 'names the file and line');
  });
});

test('errors from Kairos print their message without a stack; only bugs keep one', () => {
  withHome(undefined, (h) => {
    const bad = path.join(h.home, 'settings.json');
    fs.writeFileSync(bad, '{ "permissions": ');
    const r = kairos(['policy', 'import-claude', bad], h.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kairos: .*settings\.json/);
    assert.doesNotMatch(r.stderr, STACK);
  });
});
