import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, kairosJson, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepoWithUpstream } from '../support/git-repo.js';

interface TaskJson {
  id: number;
  state: string;
  reason: string | null;
}

test('a settled batch an EventSettled hook drops is skipped and audited as the hook decided it', { timeout: 120_000 }, async () => {
  const fx = makeRepoWithUpstream('plain');
  const h = makeHome(`
triggers:
  - name: on-poke
    on: { manual: true }
    run: echo ran
    notify: never
`);
  fs.writeFileSync(path.join(h.home, 'hooks.json'), JSON.stringify({ hooks: { EventSettled: [{ hooks: [{ type: 'command', command: 'echo "not now" >&2; exit 2' }] }] } }));
  let d: DaemonProcess | undefined;
  try {
    d = await spawnDaemon([fx.work.dir], h.env);
    assert.equal(kairos(['poke', '--repo', fx.work.dir, '--trigger', 'on-poke'], h.env).code, 0);
    const t = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((x) => x.state === 'skipped'), { what: 'the task skipped' });
    assert.match(t.reason ?? '', /dropped by an EventSettled hook/);
    const rows = kairosJson<Array<{ layer: string; verdict: string; rule: string | null; what: string }>>(['audit', '--task', String(t.id)], h.env);
    const perm = rows.find((r) => r.layer === 'permission')!;
    assert.deepEqual([perm.what, perm.verdict, perm.rule], ['start command task', 'deny', 'EventSettled hook']);
    assert.deepEqual(rows.filter((r) => r.layer !== 'permission').map((r) => r.verdict), Array(7).fill('n/a'));
  } finally {
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    h.cleanup();
    fx.cleanup();
  }
});
