// The incident state's file: read whole at start, replaced whole at each change. A write goes to a
// temporary file beside it and is renamed over it, so a crash (or kill -9) mid-write leaves the
// previous state or the new one, never half of one.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type FileRead = { kind: 'none' } | { kind: 'text'; text: string } | { kind: 'unreadable'; reason: string };

export interface StateFile {
  readonly path: string;
  read(): FileRead;
  /** Throws with the reason when the file cannot be written. */
  write(text: string): void;
}

export function stateFile(path: string): StateFile {
  const temp = `${path}.tmp`;
  return {
    path,
    read() {
      try {
        return { kind: 'text', text: readFileSync(path, 'utf8') };
      } catch (err) {
        if (errCode(err) === 'ENOENT') return { kind: 'none' };
        return { kind: 'unreadable', reason: errMessage(err) };
      }
    },
    write(text) {
      // systemd makes the directory (RuntimeDirectory=); without systemd it is made here, private.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const fd = openSync(temp, 'w', 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    },
  };
}

function errCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
