import fs from 'node:fs';
import { z } from 'zod';
import { readJsonFile, zodProblems, type LocatedJson } from './json-file.js';
import { PolicyError } from './load.js';
import { parseRule } from './rules.js';
import { UserInputError, messageOf } from '../core/errors.js';

/**
 * Imports the `permissions` rules of a Claude Code settings file (.claude/settings.json or
 * settings.local.json), so a user's existing rules carry over. Rules Kairos enforces with the same
 * meaning are kept; Grep and Glob become the Read rules Kairos checks its grep and list_files
 * with (said in `mapped`); the rest are listed with the reason, and settings Kairos handles its own
 * way (additionalDirectories, defaultMode) are explained in `notes` — never silently dropped.
 */

const ClaudeSettings = z
  .object({
    permissions: z
      .object({
        allow: z.array(z.string()).optional(),
        ask: z.array(z.string()).optional(),
        deny: z.array(z.string()).optional(),
        additionalDirectories: z.array(z.string()).optional(),
        defaultMode: z.string().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

export class ClaudeSettingsError extends UserInputError {
  override name = 'ClaudeSettingsError';
}

type List = 'allow' | 'ask' | 'deny';

export interface ImportedPermissions {
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  skipped: { list: List; rule: string; why: string }[];
  /** Rules written for a Claude Code tool Kairos checks under another rule: what each became, and what that means. */
  mapped: { list: List; rule: string; to: string; note: string }[];
  /** Settings Kairos does not take over, with what it does instead. */
  notes: { setting: string; value: string; instead: string }[];
}

const KNOWN = new Set(['Bash', 'Read', 'Edit', 'Write']);

/** Kairos's grep and list_files are checked as reads of the path they search (src/policy/rules.ts toolCallFor). */
const AS_READ: Record<string, Record<List, string>> = {
  Grep: {
    allow: "Kairos's grep is checked as a Read of the path it searches; grep shows file contents, so this is the same power",
    ask: "Kairos's grep is checked as a Read of the path it searches; this also asks before read_file reads there",
    deny: "Kairos's grep is checked as a Read of the path it searches; this also denies read_file there",
  },
  Glob: {
    allow: "Kairos's list_files is checked as a Read of the folder it lists — note that Read also lets the agent read those files",
    ask: "Kairos's list_files is checked as a Read of the folder it lists; this also asks before reading those files",
    deny: "Kairos's list_files is checked as a Read of the folder it lists; this also denies reading those files",
  },
};

const MODES: Record<string, string> = {
  default: 'the same as Kairos: a call no rule allows is not run',
  acceptEdits:
    "Kairos edits only its own worktree and every change waits for your approval as a proposal; to let the agent edit without a rule per path, allow Edit",
  plan: 'Kairos has no plan mode; a read-only start is a policy that allows only Read (and denies Edit)',
  bypassPermissions: 'Kairos has no way to skip its policy layers; allow the tools you want by rule instead',
  dontAsk: 'Kairos runs unattended: a call no rule allows is never run, as in dontAsk',
};

export function importClaudePermissions(json: unknown, source = 'settings.json', located?: LocatedJson): ImportedPermissions {
  const parsed = ClaudeSettings.safeParse(json);
  if (!parsed.success) {
    if (located) throw new ClaudeSettingsError(new PolicyError(source, zodProblems(located, parsed.error)).message);
    throw new ClaudeSettingsError(`${source}: not a Claude Code settings file (${z.prettifyError(parsed.error).split('\n').join('; ')}) — expected {"permissions": {"allow": [...], "deny": [...]}}`);
  }
  const out: ImportedPermissions = { permissions: { allow: [], ask: [], deny: [] }, skipped: [], mapped: [], notes: [] };
  const p = parsed.data.permissions ?? {};
  for (const list of ['allow', 'ask', 'deny'] as const) {
    for (const raw of p[list] ?? []) {
      let rule;
      try {
        rule = parseRule(raw);
      } catch (e) {
        out.skipped.push({ list, rule: raw, why: messageOf(e) });
        continue;
      }
      const asRead = AS_READ[rule.tool];
      if (asRead) {
        const to = rule.specifier === undefined ? 'Read' : `Read(${rule.specifier})`;
        try {
          parseRule(to);
        } catch (e) {
          out.skipped.push({ list, rule: raw, why: messageOf(e) });
          continue;
        }
        if (!out.permissions[list].includes(to)) out.permissions[list].push(to);
        out.mapped.push({ list, rule: raw.trim(), to, note: asRead[list] });
        continue;
      }
      if (!KNOWN.has(rule.tool) && !rule.tool.startsWith('mcp__')) {
        out.skipped.push({ list, rule: raw, why: `Kairos has no '${rule.tool}' tool` });
        continue;
      }
      if (!out.permissions[list].includes(raw.trim())) out.permissions[list].push(raw.trim());
    }
  }
  if (p.additionalDirectories?.length) {
    out.notes.push({
      setting: 'permissions.additionalDirectories',
      value: p.additionalDirectories.join(', '),
      instead: "Kairos's agent works only inside its own worktree of the repository; folders outside it cannot be granted (the sandbox lets commands read system and toolchain folders, see 'kairos policy explain --sandbox')",
    });
  }
  if (p.defaultMode !== undefined) {
    out.notes.push({ setting: 'permissions.defaultMode', value: p.defaultMode, instead: MODES[p.defaultMode] ?? `'${p.defaultMode}' is not a mode Kairos knows; a call no rule allows is not run` });
  }
  return out;
}

/** Reads and imports a settings file; a missing file imports nothing. Errors name file:line:col. */
export function importClaudeSettingsFile(file: string): ImportedPermissions {
  if (!fs.existsSync(file)) return { permissions: { allow: [], ask: [], deny: [] }, skipped: [], mapped: [], notes: [] };
  let json: LocatedJson;
  try {
    json = readJsonFile(file);
  } catch (e) {
    if (e instanceof PolicyError) throw new ClaudeSettingsError(e.message, { cause: e });
    throw e;
  }
  return importClaudePermissions(json.value, file, json);
}
