import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { COMPILED } from '../support/paths.js';

/**
 * Issue 11 (start-up cost): what watching does not need is loaded on first use. A daemon whose policy
 * has no cron trigger and no dream schedule, and that runs no agent, has not loaded the bash grammar,
 * the cron libraries or dbus-next after a trigger ran; a cron trigger added by a reload loads the cron
 * libraries then. The compiled run's daemon is the bundle (scripts/bundle.mjs), whose code splitting must
 * keep these as chunks or packages loaded on first use.
 */

interface Loaded { bash_grammar: boolean; cron: boolean; dbus: boolean; bundled: boolean }
interface TaskJson { state: string; trigger: string }

const POLICY = `dream: { enabled: false }
triggers:
  - name: touched
    on: { fs: ["src/**"] }
    settle_ms: 200
    run: 'true'
    notify: never
`;

test('the bash grammar, the cron libraries and dbus-next are not loaded until something needs them', async () => {
  await scenario(POLICY, async ({ h, repo }) => {
    await withDaemon([repo.dir], h.env, async (d) => {
      repo.write('src/a.txt', 'one\n');
      // The trigger's command went through the eight layers and ran: the daemon did its work.
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'touched' && t.state === 'done'), {
        what: 'the trigger ran',
        timeoutMs: 60_000,
      }).catch((e: Error) => {
        throw new Error(`${e.message}\ndaemon: ${d.output()}`);
      });
      // The compiled run's CLI (dist/bin/kairos.js) runs the bundle, so this is what the bundle loads lazily.
      assert.deepEqual(await callDaemon(h.home, 'debug.lazy_modules'), { bash_grammar: false, cron: false, dbus: false, bundled: COMPILED });

      fs.writeFileSync(path.join(h.home, 'policy.yaml'), `${POLICY}  - name: nightly\n    on: { cron: "0 4 * * *" }\n    run: 'true'\n    notify: never\n`);
      await callDaemon(h.home, 'reload');
      const loaded = await waitFor(async () => {
        const l = (await callDaemon(h.home, 'debug.lazy_modules')) as Loaded;
        return l.cron ? l : undefined;
      }, { what: 'the cron libraries loaded for the new cron trigger' });
      assert.deepEqual(loaded, { bash_grammar: false, cron: true, dbus: false, bundled: COMPILED });
    });
  });
});
