/**
 * Documentation and images: prose, pictures, licences and changelogs. A change to nothing else gives
 * an ambient agent nothing to check, build or repair, so it is not worth a triage call. (In the
 * labelled histories of bench/replay/history — gemini-cli Jan–Mar 2026, watchexec 2021–22 — 2 of
 * 200 documentation-only commits were labelled "act", against 151 of 2,339 others.) Judged by name only: a file under docs/ that is code (a site's config, a
 * script) is not documentation here.
 */
const DOC_FILE =
  /\.(md|mdx|markdown|rst|adoc|asciidoc|txt|ronn|png|jpe?g|gif|svg|webp|ico|bmp|tiff?)$|(^|\/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS|CONTRIBUTORS|CHANGELOG|CHANGES|HISTORY|CODEOWNERS|CITATION\.cff|\.mailmap)([.-][^/]*)?$|(^|\/)(man|doc|docs)\/[^/]*\.[1-9]$/i;

export function isDocumentation(path: string): boolean {
  return DOC_FILE.test(path);
}

/** True when there are paths and every one is documentation. */
export function onlyDocumentation(paths: readonly string[]): boolean {
  return paths.length > 0 && paths.every(isDocumentation);
}
