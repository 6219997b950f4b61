import fs from 'node:fs';
import { z } from 'zod';
import { parseRule } from './rules.js';

/**
 * Imports the `permissions` rules of a Claude Code settings file (.claude/settings.json or
 * settings.local.json), so a user's existing rules carry over. Only rules Kairos can enforce
 * with the same meaning are kept; the rest are listed with the reason, never silently dropped.
 */

const ClaudeSettings = z.object({
  permissions: z
    .object({
      allow: z.array(z.string()).optional(),
      ask: z.array(z.string()).optional(),
      deny: z.array(z.string()).optional(),
    })
    .passthrough()
    .optional(),
}).passthrough();

export class ClaudeSettingsError extends Error {
  override name = 'ClaudeSettingsError';
}

export interface ImportedPermissions {
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  skipped: { list: 'allow' | 'ask' | 'deny'; rule: string; why: string }[];
}

const KNOWN = new Set(['Bash', 'Read', 'Edit', 'Write']);

export function importClaudePermissions(json: unknown, source = 'settings.json'): ImportedPermissions {
  const parsed = ClaudeSettings.safeParse(json);
  if (!parsed.success) {
    throw new ClaudeSettingsError(`${source}: not a Claude Code settings file (${z.prettifyError(parsed.error).split('\n').join('; ')}) — expected {"permissions": {"allow": [...], "deny": [...]}}`);
  }
  const out: ImportedPermissions = { permissions: { allow: [], ask: [], deny: [] }, skipped: [] };
  const p = parsed.data.permissions ?? {};
  for (const list of ['allow', 'ask', 'deny'] as const) {
    for (const raw of p[list] ?? []) {
      let rule;
      try {
        rule = parseRule(raw);
      } catch (e) {
        out.skipped.push({ list, rule: raw, why: (e as Error).message });
        continue;
      }
      if (!KNOWN.has(rule.tool) && !rule.tool.startsWith('mcp__')) {
        out.skipped.push({ list, rule: raw, why: `Kairos has no '${rule.tool}' tool` });
        continue;
      }
      out.permissions[list].push(raw.trim());
    }
  }
  return out;
}

/** Reads and imports a settings file; a missing file imports nothing. */
export function importClaudeSettingsFile(file: string): ImportedPermissions {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { permissions: { allow: [], ask: [], deny: [] }, skipped: [] };
    throw new ClaudeSettingsError(`${file}: cannot read it (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ClaudeSettingsError(`${file}: not valid JSON (${(e as Error).message}) — fix the file or remove it`);
  }
  return importClaudePermissions(json, file);
}
