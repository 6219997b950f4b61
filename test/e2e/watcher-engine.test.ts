import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, runGit } from '../support/git-repo.js';
import { fileEvents } from '../support/store-query.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[] }
interface WatcherJson { engine: string; backend: string | null; reason: string; state: string; files: number; error: string | null; offline: string }
interface StatusJson { state: string; repos: Array<{ path: string; watcher: WatcherJson }> }

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: 'true'
    notify: never
`;
const noNativeHook = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/no-native-watcher.js');

async function stop(d: DaemonProcess): Promise<void> {
  d.kill('SIGTERM');
  await d.exited;
}

describe('the watching engine (real daemon)', () => {
  test('when @parcel/watcher cannot load, chokidar watches instead and status and doctor say why', async () => {
    const h = makeHome(POLICY);
    h.env.NODE_OPTIONS = `${h.env.NODE_OPTIONS ?? ''} --import ${noNativeHook}`.trim();
    delete h.env.KAIROS_WATCHER; // auto: the choice a user without the native module gets
    const repo = makeRepo();
    try {
      const d = await spawnDaemon([repo.dir], h.env);
      try {
        const w = kairosJson<StatusJson>(['status'], h.env).repos[0]!.watcher;
        assert.equal(w.engine, 'chokidar');
        assert.match(w.reason, /@parcel\/watcher cannot load \(Cannot find module @parcel\/watcher/);
        assert.match(kairos(['status'], h.env).stdout, /watcher: chokidar, watching .* — @parcel\/watcher cannot load/);
        const doctor = kairos(['doctor'], h.env).stdout;
        assert.match(doctor, /WARN\s+watcher\s+chokidar fallback: @parcel\/watcher cannot load/);
        repo.write('src/a.ts', 'a');
        const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.state === 'done'), { what: 'trigger under the fallback' });
        assert.deepEqual(task.paths, ['src/a.ts']);
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });

  test('native: a repository deleted and cloned again at its path is noticed, shown, and watched again', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    const bare = `${repo.dir}-origin.git`;
    try {
      repo.commit('base', { 'src/base.ts': 'b' });
      runGit(path.dirname(repo.dir), ['clone', '-q', '--bare', repo.dir, bare]);
      const d = await spawnDaemon([repo.dir], h.env);
      try {
        fs.rmSync(repo.dir, { recursive: true, force: true });
        const lost = await waitFor(() => {
          const w = kairosJson<StatusJson>(['status'], h.env).repos[0]!.watcher;
          return w.state === 'lost' ? w : null;
        }, { what: 'the watcher shown as lost' });
        assert.match(lost.error ?? '', /deleted/);
        assert.match(kairos(['status'], h.env).stdout, /LOST: the folder was deleted/);
        runGit(path.dirname(repo.dir), ['clone', '-q', bare, repo.dir]);
        await waitFor(() => kairosJson<StatusJson>(['status'], h.env).repos[0]!.watcher.state === 'watching', { what: 'watched again' });
        fs.writeFileSync(path.join(repo.dir, 'src/after.ts'), 'x');
        await waitFor(() => fileEvents(h.home, `path = 'src/after.ts'`).length > 0, { what: 'an event from the new clone' });
        await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).some((t) => t.paths.includes('src/after.ts') && t.state === 'done'), { what: 'its trigger' });
      } finally {
        await stop(d);
      }
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
      repo.cleanup();
      h.cleanup();
    }
  });

  test('native: an unchanged symlink (and any unchanged file) is not reported on start', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      repo.write('src/target.ts', 't');
      fs.symlinkSync('target.ts', path.join(repo.dir, 'src/link.ts'));
      fs.symlinkSync('/etc', path.join(repo.dir, 'src/outside'));
      repo.commit('links');
      for (let run = 0; run < 2; run++) {
        const d = await spawnDaemon([repo.dir], h.env);
        repo.write(`src/marker${run}.ts`, 'm'); // a later event: proof the start's events are all in
        await waitFor(() => fileEvents(h.home, `path = 'src/marker${run}.ts'`).length > 0, { what: 'marker event' });
        // The watcher hands events over in order: once the fence is stored, every event of the
        // marker's write (its create and its modify) is in, and the closing snapshot holds them.
        repo.write(`src/fence${run}.ts`, 'f');
        await waitFor(() => fileEvents(h.home, `path = 'src/fence${run}.ts'`).length > 0, { what: 'fence event' });
        await stop(d);
      }
      // Only the live writes of the markers and fences, as the user's; nothing about the links or
      // the committed files, and nothing offline. (A marker may also have a live file.changed: on a
      // loaded machine the writer can be paused between creating the file and writing it, and the
      // watcher then truly saw an empty file first.)
      const stored = fileEvents(h.home).map((e) => `${e.path} ${e.type} ${e.origin}`);
      const spurious = stored.filter((e) => !/^src\/(marker|fence)[01]\.ts file\.(added|changed) user$/.test(e));
      assert.deepEqual(spurious, [], `spurious events at start (all stored: ${stored.join('; ')})`);
      for (const rel of ['src/marker0.ts', 'src/fence0.ts', 'src/marker1.ts', 'src/fence1.ts']) {
        assert.equal(stored.filter((e) => e.startsWith(`${rel} file.added`)).length, 1, `${rel} added once`);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });

  test('kairos start on a large tree prints progress while indexing; status says indexing with counts meanwhile', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      // 150,000 empty files in 3,000 folders: enough that indexing takes a visible moment anywhere.
      for (let d = 0; d < 3000; d++) {
        const dir = path.join(repo.dir, 'src', `d${Math.floor(d / 50)}`, `s${d}`);
        fs.mkdirSync(dir, { recursive: true });
        for (let f = 0; f < 50; f++) fs.closeSync(fs.openSync(path.join(dir, `f${f}.ts`), 'w'));
      }
      const seen: string[] = [];
      const start = kairos(['start', '--repo', repo.dir], h.env);
      try {
        assert.equal(start.code, 0, start.stderr);
        seen.push(...start.stdout.split(/\r|\n/).filter((l) => l.includes('indexing')));
        assert.ok(seen.length > 0, `no progress printed:\n${start.stdout}`);
        assert.match(seen.at(-1)!, /kairos: indexing .*repo: [\d,]+ files, \d+\.\d s/);
        assert.match(start.stdout, /daemon started \(pid \d+\)/);
        const s = kairosJson<StatusJson>(['status'], h.env);
        assert.equal(s.state, 'ready');
        assert.equal(s.repos[0]!.watcher.files, 150_001);
        assert.match(kairos(['status'], h.env).stdout, /watcher: native \(inotify\), watching 150,001 files/);
      } finally {
        kairos(['stop'], h.env);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
