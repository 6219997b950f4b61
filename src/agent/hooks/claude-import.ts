import fs from 'node:fs';
import { z } from 'zod';
import { HookConfigError, parseHooksSettings, type HooksSettings } from './registry.js';
import { messageOf, errnoCode } from '../../core/errors.js';

/**
 * Imports the `hooks` section of a Claude Code settings file (.claude/settings.json,
 * .claude/settings.local.json, ~/.claude/settings.json) unchanged: the section is Kairos's hook
 * format too. Other settings in the file (permissions, env, model, ...) are not read here; the
 * permission rules are imported by src/policy/claude-settings.ts.
 */

const SettingsFile = z.looseObject({
  hooks: z.unknown().optional(),
  /** Claude Code's switch to turn every hook in the file off. */
  disableAllHooks: z.boolean().optional(),
});

/** The hooks section of parsed settings JSON; empty when the file has none or turns them off. */
export function importClaudeHooks(json: unknown, file: string): HooksSettings {
  const parsed = SettingsFile.safeParse(json);
  if (!parsed.success) {
    throw new HookConfigError(`${file}: not a settings file (expected a JSON object with a "hooks" key) — fix the file or remove it`);
  }
  if (parsed.data.disableAllHooks === true) return {};
  return parseHooksSettings(parsed.data.hooks, file);
}

/**
 * Reads a settings file ({"hooks": {...}}, the shape of .claude/settings.json and of Kairos's own
 * $KAIROS_HOME/hooks.json and .kairos/hooks/*.json). A missing file has no hooks.
 */
export function readHooksFile(file: string): HooksSettings {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return {};
    throw new HookConfigError(`${file}: cannot read it (${messageOf(e)}) — check its permissions`, [], { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HookConfigError(`${file}: not valid JSON (${messageOf(e)}) — fix the file or remove it`, [], { cause: e });
  }
  return importClaudeHooks(json, file);
}
