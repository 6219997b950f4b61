import { findSecretSpans, mergeSpans } from './redact.js';

/**
 * Secrets a unified diff would ADD to the user's tree: in its added lines (`+…`) and in the names
 * of files it creates. Context and removed lines are left out: a secret there is already in the
 * user's files, and the diff is shown with it redacted.
 *
 * Why a proposal that adds a secret is refused rather than shown redacted: the approval is bound
 * to the sha256 of the exact diff, and the human approves what they are shown. A redacted added
 * line would be approving bytes nobody saw, and a redaction span can be long (a private-key
 * block spans lines), long enough to hide code. An unattended agent also never needs to write a
 * credential into source: the human can, in one line, themselves.
 */

export interface AddedSecret {
  file: string;
  /** The rule that found it (never the value). */
  kind: string;
}

/** Paths in `diff --git a/X b/Y` headers and `+++ b/Y` lines, unquoted the way git quotes them. */
function headerPath(raw: string): string {
  const p = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  return p.replace(/^[ab]\//, '');
}

export function secretsAddedByDiff(diff: string): AddedSecret[] {
  const added = new Map<string, string[]>();
  const created: string[] = [];
  let file = '';
  let inHeader = false;
  let binary = false;
  let isNew = false;
  for (const line of diff.split('\n')) {
    if (line.startsWith('diff --git ')) {
      inHeader = true;
      binary = false;
      isNew = false;
      const m = /^diff --git (?:"a\/.*?"|a\/\S*) (.+)$/.exec(line);
      file = m ? headerPath(m[1]!) : line.slice(11);
      continue;
    }
    if (inHeader) {
      if (line.startsWith('new file mode')) isNew = true;
      else if (line.startsWith('+++ ') && line !== '+++ /dev/null') file = headerPath(line.slice(4));
      else if (line.startsWith('GIT binary patch')) binary = true;
      if (line.startsWith('@@') || binary) {
        if (isNew) created.push(file);
        inHeader = false;
      }
      if (!line.startsWith('@@')) continue;
    }
    if (binary) continue;
    if (line.startsWith('+')) {
      const l = added.get(file);
      if (l) l.push(line.slice(1));
      else added.set(file, [line.slice(1)]);
    }
  }
  if (inHeader && isNew) created.push(file); // an empty new file has no hunk
  const out: AddedSecret[] = [];
  const seen = new Set<string>();
  const push = (f: string, kind: string): void => {
    if (seen.has(`${f}\0${kind}`)) return;
    seen.add(`${f}\0${kind}`);
    out.push({ file: f, kind });
  };
  // One entry per secret, named by the most specific rule that found it.
  const kinds = (text: string): string[] => mergeSpans(findSecretSpans(text)).map((s) => s.kind);
  for (const f of created) for (const k of kinds(f)) push(f, k);
  for (const [f, lines] of added) for (const k of kinds(lines.join('\n'))) push(f, k);
  return out;
}
