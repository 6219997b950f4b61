#!/usr/bin/env node
// SQL lives only in src/store (docs/ARCHITECTURE.md, "SQL only in store/"). dependency-cruiser already
// forbids a run-time import of better-sqlite3 outside dist/src/store, but it cannot see a type-only import
// nor a statement run on a handle someone passed in, so this script parses every TypeScript source outside
// src/store (a real parse with oxc-parser: TypeScript 7 ships no compiler API) and fails on:
//   - any import of better-sqlite3, type-only and dynamic ones included (nothing else may even name the type);
//   - a `.prepare(` or `.pragma(` call, whatever the receiver;
//   - an `.exec(` call that runs SQL: its receiver is named like a database handle (db, this.db, x.database…)
//     or its first argument is literal text that starts with an SQL keyword. RegExp#exec is everywhere in the
//     tree and a syntactic check has no types, so an `.exec(` on anything else is taken to be a RegExp's.
// `.transaction(` is allowed: composing several store calls into one transaction is the caller's business
// (the statements inside still live in src/store).
//
// Usage: node scripts/check-sql-in-store.mjs [root]   (root defaults to the repository; scans root/src,
// root/daemon and root/bin). Exits 1 and names file:line:column and the fix for each finding.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSync } from 'oxc-parser';

/** Files allowed to keep SQL outside src/store, each with the reason. Keep it empty if at all possible. */
const EXCEPTIONS = new Map([
  // ['src/x/y.ts', 'why this file cannot go through a store module'],
]);

const SQL_METHODS = new Set(['prepare', 'pragma']);
const DB_NAME = /^(db|database|sqlite|conn|connection)$|(Db|DB|Database)$/;
const SQL_TEXT = /^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE|ATTACH|DETACH|WITH|REINDEX)\b/i;

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));

/** @param {string} dir @returns {string[]} */
function sources(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(c|m)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => !f.split(path.sep).includes('node_modules'));
}

/** The name a receiver ends with: `db` for db, this.db, store.db, d.db; undefined for anything else. */
function receiverName(node) {
  if (node.type === 'Identifier') return node.name;
  if (node.type === 'MemberExpression' && !node.computed && node.property.type === 'Identifier') return node.property.name;
  if (node.type === 'TSNonNullExpression' || node.type === 'ParenthesizedExpression') return receiverName(node.expression);
  return undefined;
}

/** The literal text of a string or template without substitutions' values (enough to see the keyword it opens with). */
function literalText(node) {
  if (!node) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral') return node.quasis.map((q) => q.value.cooked ?? q.value.raw).join('?');
  return undefined;
}

/** Yields every node of an ESTree-shaped tree. */
function* walk(node) {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const n of node) yield* walk(n);
    return;
  }
  if (typeof node.type === 'string') yield node;
  for (const key in node) if (key !== 'parent') yield* walk(node[key]);
}

/** @returns {{ at: number, what: string, parse?: boolean }[]} */
function findings(file, text) {
  const { program, errors } = parseSync(file, text, { sourceType: 'module' });
  if (errors.length > 0) return [{ at: errors[0].labels?.[0]?.start ?? 0, what: `does not parse (${errors[0].message}); fix the syntax so it can be checked`, parse: true }];
  const out = [];
  for (const n of walk(program)) {
    const source =
      (n.type === 'ImportDeclaration' || n.type === 'ExportNamedDeclaration' || n.type === 'ExportAllDeclaration') ? n.source?.value
      : n.type === 'ImportExpression' ? literalText(n.source)
      : n.type === 'TSImportType' ? literalText(n.argument?.literal ?? n.argument ?? n.source)
      : n.type === 'CallExpression' && n.callee.type === 'Identifier' && n.callee.name === 'require' ? literalText(n.arguments[0])
      : undefined;
    if (source === 'better-sqlite3') {
      out.push({ at: n.start, what: 'imports better-sqlite3' });
      continue;
    }
    if (n.type !== 'CallExpression') continue;
    const callee = n.callee.type === 'ChainExpression' ? n.callee.expression : n.callee;
    if (callee.type !== 'MemberExpression' || callee.computed || callee.property.type !== 'Identifier') continue;
    const method = callee.property.name;
    if (SQL_METHODS.has(method)) {
      out.push({ at: callee.property.start, what: `calls .${method}(` });
    } else if (method === 'exec') {
      const name = receiverName(callee.object);
      const sql = literalText(n.arguments[0]);
      if ((name !== undefined && DB_NAME.test(name)) || (sql !== undefined && SQL_TEXT.test(sql))) {
        out.push({ at: callee.property.start, what: 'runs SQL with .exec(' });
      }
    }
  }
  return out;
}

/** 1-based line and column of a UTF-16 offset (oxc-parser reports UTF-16 offsets to JavaScript). */
function lineCol(text, at) {
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before.at(-1).length + 1}`;
}

const files = ['src', 'daemon', 'bin'].flatMap((d) => sources(path.join(root, d)));
const store = path.join(root, 'src', 'store') + path.sep;
let bad = 0;
for (const file of files) {
  if (file.startsWith(store)) continue;
  const rel = path.relative(root, file).split(path.sep).join('/');
  if (EXCEPTIONS.has(rel)) continue;
  const text = fs.readFileSync(file, 'utf8');
  for (const f of findings(file, text)) {
    bad++;
    const fix = f.parse ? '' : ' outside src/store; move the statement into a src/store module and call that (docs/ARCHITECTURE.md, "SQL only in store/")';
    console.error(`${rel}:${lineCol(text, f.at)}: ${f.what}${fix}`);
  }
}
if (bad > 0) {
  console.error(`check-sql-in-store: ${bad} finding${bad === 1 ? '' : 's'} in ${path.relative(process.cwd(), root) || '.'}`);
  process.exit(1);
}
console.log(`check-sql-in-store: no SQL outside src/store (${files.length} files parsed)`);
