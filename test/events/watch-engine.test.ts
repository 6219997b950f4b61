import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chooseEngine, enginePreference, EngineError } from '../../src/events/watch-engine.js';
import { watchmanAvailable } from '../../src/events/watchman-available.js';
import { tempDir } from '../support/temp.js';
import { startWatchman, watchmanMissing } from '../support/watchman.js';

const tmp = tempDir('kairos-engine-');
after(() => tmp.cleanup());

describe('choosing the watching engine', () => {
  test('KAIROS_WATCHER takes auto, native, watchman or chokidar; a typo is an error that names the fix', () => {
    assert.equal(enginePreference({}), 'auto');
    assert.equal(enginePreference({ KAIROS_WATCHER: ' chokidar ' }), 'chokidar');
    assert.throws(() => enginePreference({ KAIROS_WATCHER: 'inotify' }), (e: Error) => e instanceof EngineError && /KAIROS_WATCHER=inotify: expected one of auto, native, watchman, chokidar; unset it/.test(e.message));
  });

  test('no watchman on PATH, or a WATCHMAN_SOCK that is not there: Watchman is unavailable, and why', () => {
    const emptyBin = path.join(tmp.dir, 'empty-bin');
    fs.mkdirSync(emptyBin, { recursive: true });
    assert.deepEqual(watchmanAvailable({ PATH: emptyBin }), { ok: false, why: 'no watchman on PATH' });
    const missing = path.join(tmp.dir, 'no-such-sock');
    assert.deepEqual(watchmanAvailable({ WATCHMAN_SOCK: missing }), { ok: false, why: `WATCHMAN_SOCK=${missing} does not exist` });
  });

  test('auto without a reachable Watchman: the platform backend of @parcel/watcher', async () => {
    const choice = await chooseEngine({ WATCHMAN_SOCK: path.join(tmp.dir, 'absent-sock') });
    assert.equal(choice.name, 'native');
    assert.equal(choice.backend, process.platform === 'linux' ? 'inotify' : choice.backend);
    assert.match(choice.reason, /does not exist/);
  });

  test('auto with a Watchman server running: Watchman', { skip: watchmanMissing() ?? false }, async () => {
    const wm = await startWatchman();
    try {
      const choice = await chooseEngine({ WATCHMAN_SOCK: wm.sock });
      assert.equal(choice.name, 'watchman');
      assert.equal(choice.backend, 'watchman');
      assert.match(choice.reason, /watchman is installed/);
    } finally {
      await wm.stop();
    }
  });

  test('asking for Watchman explicitly when it cannot run is an error, not a quiet fallback', async () => {
    await assert.rejects(chooseEngine({ KAIROS_WATCHER: 'watchman', WATCHMAN_SOCK: path.join(tmp.dir, 'gone-sock') }), /KAIROS_WATCHER=watchman, but WATCHMAN_SOCK=.* does not exist/);
  });
});
