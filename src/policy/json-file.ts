import fs from 'node:fs';
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import type { z } from 'zod';
import { PolicyError, type PolicyProblem } from './load.js';
import { messageOf, errnoCode } from '../core/errors.js';

/**
 * JSON settings files (hooks.json, .claude/settings.json, plugin manifests, .mcp.json) read so
 * that every problem names the file, the line and the column: a syntax error where it is, a schema
 * error at the value its JSON path points to. The errors are PolicyErrors, so they print like the
 * policy file's (`<file>:<line>:<col>: <field>: <what> — <fix>`).
 */

/** A settings file is short; a larger one is a wrong path (or an attack), not a config. */
const MAX_JSON_BYTES = 1024 * 1024;

export type JsonPath = readonly (string | number)[];

export interface LocatedJson {
  file: string;
  value: unknown;
  /** 1-based line and column of the value at `path` (or of the nearest enclosing value that exists). */
  locate(path: JsonPath): { line: number; col: number };
}

const SYNTAX_FIXES: Record<string, string> = {
  InvalidSymbol: 'remove the stray character; JSON strings need double quotes',
  InvalidNumberFormat: 'write the number plainly, e.g. 30',
  PropertyNameExpected: 'write the key in double quotes, and remove a comma before a closing }',
  ValueExpected: 'write a value here, and remove a comma before a closing ] or }',
  ColonExpected: 'put a ":" between the key and its value',
  CommaExpected: 'separate the entries with commas',
  CloseBraceExpected: 'close the object with }',
  CloseBracketExpected: 'close the list with ]',
  EndOfFileExpected: 'remove what follows the closing } (one JSON value per file)',
  InvalidCommentToken: 'JSON has no comments: remove it',
  UnexpectedEndOfComment: 'JSON has no comments: remove it',
  UnexpectedEndOfString: 'close the string with a double quote',
  UnexpectedEndOfNumber: 'finish the number',
  InvalidUnicode: 'fix the \\u escape: four hex digits',
  InvalidEscapeCharacter: 'escape a backslash as \\\\',
  InvalidCharacter: 'escape control characters (a tab is \\t, a newline \\n)',
};

/** Reads a JSON file. Throws PolicyError (unreadable, too large, a syntax error with line:col). */
export function readJsonFile(file: string): LocatedJson {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_JSON_BYTES) throw new PolicyError(file, [{ file, field: '', message: `the file is ${size} bytes, larger than the 1 MiB a settings file may be — check the path` }]);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const code = errnoCode(e) ?? messageOf(e);
    throw new PolicyError(file, [{ file, field: '', message: `cannot read the file (${code}) — check that the path exists and is a readable file` }], { cause: e });
  }
  return parseJsonText(text, file);
}

/** Parses JSON text strictly (no comments, no trailing commas). Throws PolicyError for a syntax error. */
export function parseJsonText(text: string, file: string): LocatedJson {
  const lines = lineStarts(text);
  const position = (offset: number): { line: number; col: number } => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - lines[lo]! + 1 };
  };
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (errors.length > 0 || !root) {
    const problems: PolicyProblem[] = (errors.length ? errors.slice(0, 1) : [{ error: 4, offset: 0, length: 0 }]).map((e) => {
      const code = printParseErrorCode(e.error);
      return { file, ...position(e.offset), field: '', message: `JSON syntax error: ${words(code)} — ${SYNTAX_FIXES[code] ?? 'fix the JSON syntax'}` };
    });
    throw new PolicyError(file, problems);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PolicyError(file, [{ file, line: 1, col: 1, field: '', message: `JSON syntax error: ${messageOf(e)} — fix the JSON syntax` }], { cause: e });
  }
  return {
    file,
    value,
    locate(path) {
      for (let n = path.length; n >= 0; n--) {
        const node: JsonNode | undefined = findNodeAtLocation(root, path.slice(0, n));
        if (node) {
          // A key that is there points at the key itself (`"timeout": "x"` → the value), a missing one at its parent.
          return position(node.offset);
        }
      }
      return { line: 1, col: 1 };
    },
  };
}

/**
 * Zod issues as located problems. `base` is the JSON path of the validated value inside the file
 * (e.g. ['hooks'] for a settings file's hooks section); `field` names it in messages.
 */
export function zodProblems(json: LocatedJson, error: z.ZodError, base: JsonPath = [], describe: (issue: z.core.$ZodIssue) => string = defaultDescribe): PolicyProblem[] {
  return error.issues.map((issue) => {
    const p = [...base, ...issue.path.filter((s): s is string | number => typeof s !== 'symbol')];
    return { file: json.file, ...json.locate(p), field: fieldName(p), message: describe(issue) };
  });
}

/** `hooks.PreToolUse[0].hooks[1].timeout` */
export function fieldName(p: JsonPath): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i === 0 ? '' : '.'}${s}`)).join('');
}

function defaultDescribe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} — check the spelling or remove ${issue.keys.length > 1 ? 'them' : 'it'}`;
  if (issue.message.includes(' — ')) return issue.message;
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return 'is missing — add it';
  return `${issue.message} — fix the value`;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** "CloseBraceExpected" → "close brace expected" */
function words(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}
