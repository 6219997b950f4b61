import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LogSink } from './logger.js';
import { redactText } from '../policy/filter.js';
import { stripTerminalEscapes, truncateText } from './terminal-text.js';
import { findOnPath } from './notify.js';

/**
 * Spoken notifications (policy `notify: { speak: true }`, off by default), through the desktop's
 * speech service: speech-dispatcher's `spd-say` (the user's chosen voice, queued with the rest of
 * the desktop's speech), else `espeak-ng` directly. Short phrases only ("Kairos: tests failing in
 * app"). Speaking never blocks the daemon: one speaker process at a time, a short queue, a time
 * limit; a missing program is said once in the log and `kairos doctor`.
 */

export interface Speaker {
  name: 'spd-say' | 'espeak-ng';
  path: string;
}

/** The longest phrase spoken: a notification's gist, never its body. */
export const PHRASE_MAX = 120;
const QUEUE_MAX = 3;
const SPEAK_TIMEOUT_MS = 20_000;

/** spd-say when installed (it goes through the desktop's speech service), else espeak-ng, else null. Looked up on `env.PATH` each time. */
export function detectSpeaker(env: NodeJS.ProcessEnv = process.env): Speaker | null {
  for (const name of ['spd-say', 'espeak-ng'] as const) {
    const found = findOnPath(name, env.PATH ?? '');
    if (found) return { name, path: found };
  }
  return null;
}

/** The doctor's speech line: what would speak, and whether that matters (speech is on in the policy). */
export function speechStatus(speak: boolean, env: NodeJS.ProcessEnv): { status: 'ok' | 'warn'; detail: string; fix?: string } {
  const speaker = detectSpeaker(env);
  const where = speaker ? `${speaker.name} (${speaker.path})` : null;
  if (!speak) return { status: 'ok', detail: `off (notify: { speak: true } in $KAIROS_HOME/policy.yaml turns it on)${where ? `; would use ${where}` : ''}` };
  if (where) return { status: 'ok', detail: `on: failures and proposals are said aloud through ${where}` };
  return {
    status: 'warn',
    detail: 'on in the policy, but neither spd-say nor espeak-ng is installed: nothing is said aloud',
    fix: '`sudo apt install speech-dispatcher` (or `espeak-ng`), or set notify.speak: false',
  };
}

/** What is handed to the speaker: one line, no escapes or secrets, bounded, never mistaken for an option. */
export function speakablePhrase(text: string): string {
  // oxlint-disable-next-line no-control-regex -- control characters are what this strips
  const one = stripTerminalEscapes(redactText(text)).replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim();
  return truncateText(one.replace(/^-+\s*/, ''), PHRASE_MAX);
}

export interface VoiceOptions {
  /** Read each time: a policy reload turns speech on or off. */
  enabled(): boolean;
  env: NodeJS.ProcessEnv;
  log: LogSink;
  /**
   * Test hook (the environment's KAIROS_SPEECH_WAV): write each phrase with espeak-ng into a numbered
   * .wav file in this folder instead of speaking it, so a machine without a sound card can check it.
   */
  wavDir?: string | undefined;
}

export class Voice {
  private readonly queue: string[] = [];
  private speaking = false;
  private warned = false;
  private written = 0;

  constructor(private readonly o: VoiceOptions) {}

  /** Says the phrase when speech is on; returns at once. */
  say(text: string): void {
    if (!this.o.enabled()) return;
    const phrase = speakablePhrase(text);
    if (!phrase) return;
    if (this.queue.length >= QUEUE_MAX) {
      this.o.log.debug({ phrase }, 'speech queue full; phrase dropped');
      return;
    }
    this.queue.push(phrase);
    this.next();
  }

  /** Resolves once nothing is queued or being spoken (for tests and a clean stop). */
  async idle(): Promise<void> {
    while (this.speaking || this.queue.length) await new Promise((r) => setTimeout(r, 20));
  }

  private next(): void {
    if (this.speaking) return;
    const phrase = this.queue.shift();
    if (phrase === undefined) return;
    const cmd = this.command(phrase);
    if (!cmd) {
      if (!this.warned) this.o.log.warn({}, 'spoken notifications are on, but neither spd-say nor espeak-ng is installed (sudo apt install speech-dispatcher)');
      this.warned = true;
      this.queue.length = 0;
      return;
    }
    this.speaking = true;
    let done = false;
    const finish = (err?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // kairos.log keeps what was said, so a phrase missed by the ear can be read back.
      if (err) this.o.log.warn({ speaker: cmd.file, err }, 'could not speak a notification');
      else this.o.log.info({ speaker: cmd.file, phrase }, 'notification spoken');
      this.speaking = false;
      this.next();
    };
    const child = spawn(cmd.file, cmd.args, { env: this.o.env, stdio: [cmd.stdin !== undefined ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-500)));
    child.on('error', (e) => finish(e.message));
    child.on('close', (code) => finish(code === 0 ? undefined : `exit ${code ?? 'signal'}: ${stderr.trim()}`));
    if (cmd.stdin !== undefined) child.stdin?.end(cmd.stdin);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(`no answer within ${SPEAK_TIMEOUT_MS / 1000} s`);
    }, SPEAK_TIMEOUT_MS);
    timer.unref();
  }

  /** The phrase goes on stdin for espeak-ng and after `--` for spd-say, so no text is read as an option. */
  private command(phrase: string): { file: string; args: string[]; stdin?: string } | null {
    if (this.o.wavDir) {
      const espeak = findOnPath('espeak-ng', this.o.env.PATH ?? '');
      if (!espeak) return null;
      fs.mkdirSync(this.o.wavDir, { recursive: true });
      const wav = path.join(this.o.wavDir, `${String(++this.written).padStart(4, '0')}.wav`);
      return { file: espeak, args: ['--stdin', '-w', wav], stdin: phrase };
    }
    const speaker = detectSpeaker(this.o.env);
    if (!speaker) return null;
    if (speaker.name === 'spd-say') return { file: speaker.path, args: ['-N', 'Kairos', '-P', 'message', '--', phrase] };
    return { file: speaker.path, args: ['--stdin'], stdin: phrase };
  }
}
