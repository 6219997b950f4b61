import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { detectSpeaker, PHRASE_MAX, speakablePhrase, speechStatus, Voice } from '../../src/report/speech.js';
import { findOnPath } from '../../src/report/notify.js';
import type { LogSink } from '../../src/report/logger.js';
import { tempDir } from '../support/temp.js';
import { waitFor } from '../support/kairos.js';

type Entry = { level: string; obj: Record<string, unknown>; msg?: string };
function recorder(): LogSink & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const tmp = tempDir('kairos-speech-');
/** Fake programs call others by absolute path, so PATH holds only the fakes (never the real /usr/bin/spd-say). */
/** A fake spd-say that records its arguments, then waits for a release file: a speaker that takes as long as the test says. */
const slowBin = path.join(tmp.dir, 'slow-bin');
/** A fake espeak-ng that records its arguments and what it read on stdin. */
const espeakBin = path.join(tmp.dir, 'espeak-bin');
const emptyBin = path.join(tmp.dir, 'empty-bin');
const calls = path.join(tmp.dir, 'calls.log');
const release = path.join(tmp.dir, 'release');

before(() => {
  for (const d of [slowBin, espeakBin, emptyBin]) fs.mkdirSync(d);
  // Each call: one line "ARGS:" + arguments separated by '|', then wait (bounded) for the release file.
  fs.writeFileSync(
    path.join(slowBin, 'spd-say'),
    `#!/bin/sh\nline="ARGS:"\nfor a in "$@"; do line="$line|$a"; done\necho "$line" >> '${calls}'\ni=0\nwhile [ ! -e '${release}' ] && [ $i -lt 600 ]; do /bin/sleep 0.05; i=$((i+1)); done\nexit 0\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(espeakBin, 'espeak-ng'), `#!/bin/sh\necho "ESPEAK:$*" >> '${calls}'\necho "STDIN:$(/bin/cat)" >> '${calls}'\n`, { mode: 0o755 });
});
after(() => tmp.cleanup());

const recordedCalls = (): string[] => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);

describe('choosing the speaker', () => {
  test('spd-say (the desktop speech service) wins over espeak-ng; espeak-ng when spd-say is absent; none when neither', () => {
    assert.equal(detectSpeaker({ PATH: `${espeakBin}:${slowBin}` })?.name, 'spd-say');
    assert.deepEqual(detectSpeaker({ PATH: espeakBin }), { name: 'espeak-ng', path: path.join(espeakBin, 'espeak-ng') });
    assert.equal(detectSpeaker({ PATH: emptyBin }), null);
  });

  test("the doctor's line: off says how to turn it on; on without a program warns with the apt fix", () => {
    const off = speechStatus(false, { PATH: emptyBin });
    assert.equal(off.status, 'ok');
    assert.match(off.detail, /^off \(notify: \{ speak: true \}/);
    const on = speechStatus(true, { PATH: espeakBin });
    assert.equal(on.status, 'ok');
    assert.match(on.detail, /through espeak-ng \(/);
    const missing = speechStatus(true, { PATH: emptyBin });
    assert.equal(missing.status, 'warn');
    assert.match(missing.fix ?? '', /apt install speech-dispatcher/);
  });
});

describe('what is said', () => {
  test('one short line: no newlines, escapes or control characters, no secret, never read as an option', () => {
    const token = 'ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs';
    const p = speakablePhrase(`--rate=999 tests\nfailing \u001b[31min\u001b[0m app\u0007 with ${token}`);
    assert.ok(!p.startsWith('-'), p);
    assert.ok(!p.includes(token), p);
    // oxlint-disable-next-line no-control-regex -- control characters are what must be absent
    assert.doesNotMatch(p, /[\u0000-\u001f\u007f]/);
    assert.match(p, /^rate=999 tests failing in app with /);
    assert.ok(speakablePhrase('x'.repeat(1000)).length <= PHRASE_MAX);
  });
});

describe('Voice', () => {
  test('a slow speaker never blocks: one speaks at a time, at most three wait, the rest are dropped', async () => {
    fs.rmSync(calls, { force: true });
    fs.rmSync(release, { force: true });
    const log = recorder();
    const voice = new Voice({ enabled: () => true, env: { PATH: `${slowBin}:${espeakBin}` }, log });
    for (let i = 1; i <= 6; i++) voice.say(i === 1 ? '--help tests failing in app' : `phrase ${i}`);
    // The first speaker is running and cannot finish until released: nothing else may have started.
    await waitFor(() => recordedCalls().length === 1 || undefined, { what: 'the first speaker to start' });
    assert.equal(recordedCalls().length, 1);
    assert.equal(log.entries.filter((e) => e.msg === 'speech queue full; phrase dropped').length, 2);
    fs.writeFileSync(release, '');
    await voice.idle();
    // spd-say gets the phrase after `--` (never an option), under the application name Kairos.
    assert.deepEqual(recordedCalls(), [
      'ARGS:|-N|Kairos|-P|message|--|help tests failing in app',
      'ARGS:|-N|Kairos|-P|message|--|phrase 2',
      'ARGS:|-N|Kairos|-P|message|--|phrase 3',
      'ARGS:|-N|Kairos|-P|message|--|phrase 4',
    ]);
    assert.equal(log.entries.filter((e) => e.msg === 'notification spoken').length, 4);
  });

  test('espeak-ng, when it is the speaker, reads the phrase on stdin', async () => {
    fs.rmSync(calls, { force: true });
    const voice = new Voice({ enabled: () => true, env: { PATH: espeakBin }, log: recorder() });
    voice.say('Kairos: tests failing in app');
    await voice.idle();
    assert.deepEqual(recordedCalls(), ['ESPEAK:--stdin', 'STDIN:Kairos: tests failing in app']);
  });

  test('off: nothing is spawned and nothing is written', () => {
    const wavDir = path.join(tmp.dir, 'off-wav');
    let asked = 0;
    const voice = new Voice({ enabled: () => (asked++, false), env: process.env, log: recorder(), wavDir });
    voice.say('Kairos: tests failing in app');
    // say() decides and starts a speaker synchronously, so its absence now is the proof.
    assert.equal(asked, 1);
    assert.equal(fs.existsSync(wavDir), false);
  });

  test('no speech program: one warning naming the package, however many phrases', async () => {
    const log = recorder();
    const voice = new Voice({ enabled: () => true, env: { PATH: emptyBin }, log });
    voice.say('one');
    voice.say('two');
    await voice.idle();
    const warnings = log.entries.filter((e) => e.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.msg ?? '', /neither spd-say nor espeak-ng is installed \(sudo apt install speech-dispatcher\)/);
  });

  test('the real espeak-ng speaks the phrase into a wav file (no sound card needed)', async () => {
    assert.ok(findOnPath('espeak-ng', process.env.PATH ?? ''), 'espeak-ng is needed for this test: apt-get install espeak-ng (see .ci/run)');
    const wavDir = path.join(tmp.dir, 'wav');
    const log = recorder();
    const voice = new Voice({ enabled: () => true, env: process.env, log, wavDir });
    voice.say('Kairos: tests failing in app');
    await voice.idle();
    assert.deepEqual(log.entries.filter((e) => e.level === 'warn'), []);
    const wav = fs.readFileSync(path.join(wavDir, '0001.wav'));
    assert.equal(wav.subarray(0, 4).toString('latin1'), 'RIFF');
    assert.equal(wav.subarray(8, 12).toString('latin1'), 'WAVE');
    // A second of 22 kHz 16-bit speech is ~44 KB; an empty or header-only file is 44 bytes.
    assert.ok(wav.length > 20_000, `wav is ${wav.length} bytes`);
  });
});
