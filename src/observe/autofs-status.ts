// Is the automounter running? Looked up in /proc (an automount process), which works the same
// under systemd, SysV init or in a container with the host's PID namespace, and never touches a
// mount. Cheap: one small procfs read per process, once a cycle.
import { readdirSync, readFileSync } from 'node:fs';

export function automountRunning(proc = '/proc'): boolean {
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`${proc}/${entry}/comm`, 'utf8').trim() === 'automount') return true;
    } catch {
      // the process ended meanwhile
    }
  }
  return false;
}
