import fs from 'node:fs';

/** Counts the inotify watches a process holds, from /proc/<pid>/fdinfo (Linux): the real resource a watcher spends. */
export function inotifyWatchCount(pid: number | 'self' = 'self'): number {
  const dir = `/proc/${pid}/fdinfo`;
  let total = 0;
  for (const fd of fs.readdirSync(dir)) {
    let text: string;
    try {
      text = fs.readFileSync(`${dir}/${fd}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line.startsWith('inotify wd:')) total++;
  }
  return total;
}
