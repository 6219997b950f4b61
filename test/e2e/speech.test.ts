import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { scenario, waitFor, withDaemon } from '../support/kairos.js';

// A failing trigger that notifies; KAIROS_SPEECH_WAV makes the daemon's voice write each phrase with
// the real espeak-ng into a wav file in that folder, so no sound card is needed.
const failing = `
triggers:
  - name: tests
    on: { fs: ["src/**"] }
    settle_ms: 100
    run: 'false'
    notify: on_failure
`;

const notified = (home: string): boolean => {
  const file = path.join(home, 'notifications.jsonl');
  return fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('tests failed');
};

test('notify.speak on: the real daemon says "Kairos: tests failing in REPO" through espeak-ng, and kairos.log keeps the phrase', async () => {
  await scenario(`${failing}notify: { speak: true }\n`, async ({ h, repo }) => {
    const wavDir = path.join(h.home, 'spoken');
    await withDaemon([repo.dir], { ...h.env, KAIROS_SPEECH_WAV: wavDir }, async () => {
      repo.write('src/a.js', 'x\n');
      const log = path.join(h.home, 'logs', 'kairos.log');
      const line = await waitFor(
        () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').find((l) => l.includes('notification spoken')) : undefined),
        { what: 'the spoken phrase in kairos.log', timeoutMs: 60_000 },
      );
      assert.ok(line.includes(`Kairos: tests failing in ${path.basename(repo.dir)}`), line);
      const wav = fs.readFileSync(path.join(wavDir, '0001.wav'));
      assert.equal(wav.subarray(0, 4).toString('latin1'), 'RIFF');
      assert.ok(wav.length > 20_000, `wav is ${wav.length} bytes`);
    });
  });
});

test('speech is off by default: the failure is notified and nothing is said', async () => {
  await scenario(failing, async ({ h, repo }) => {
    const wavDir = path.join(h.home, 'spoken');
    await withDaemon([repo.dir], { ...h.env, KAIROS_SPEECH_WAV: wavDir }, async () => {
      repo.write('src/a.js', 'x\n');
      // The phrase would be handed to the speaker (its folder made) before the notification is sent.
      await waitFor(() => notified(h.home) || undefined, { what: 'the failure notification', timeoutMs: 60_000 });
      assert.equal(fs.existsSync(wavDir), false);
    });
  });
});

test("a repository's policy cannot make the machine talk, even when it asks to", async () => {
  await scenario(failing, async ({ h, repo }) => {
    repo.write('.kairos/policy.yaml', 'notify: { speak: true }\n');
    repo.commit('ask to speak');
    const wavDir = path.join(h.home, 'spoken');
    await withDaemon([repo.dir], { ...h.env, KAIROS_SPEECH_WAV: wavDir }, async () => {
      repo.write('src/a.js', 'x\n');
      await waitFor(() => notified(h.home) || undefined, { what: 'the failure notification', timeoutMs: 60_000 });
      assert.equal(fs.existsSync(wavDir), false);
    });
  });
});
