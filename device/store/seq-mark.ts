/**
 * The outbox's high-water mark: the highest seq ever sent to the backend or acknowledged by it, kept
 * in a small side file beside the store (`passgate.seq`). A WAL deleted under a running gate, or a
 * store set aside as corrupt, takes the recent outbox with it — but not this file, so the next seq is
 * never one the backend has already seen for a different event.
 *
 * Written atomically (temporary file, rename) and only when the mark rises: once per published
 * batch, not per decision.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SEQ_MARK_FILE = 'passgate.seq';

export class SeqMark {
  private value: number;
  private readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, SEQ_MARK_FILE);
    this.value = readSeqMark(dataDir);
  }

  get(): number {
    return this.value;
  }

  /** Raises the mark to `seq` (durably) if it is above; a failed write is thrown to the caller. */
  raise(seq: number): void {
    if (!(seq > this.value)) return;
    writeAtomically(this.file, `${seq}\n`);
    this.value = seq;
  }
}

/** The mark on disk; 0 when there is none or it cannot be read as a number. */
export function readSeqMark(dataDir: string): number {
  try {
    const n = Number(readFileSync(join(dataDir, SEQ_MARK_FILE), 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * Temporary file, then rename: a reader sees the old mark or the new one, never half of one. No
 * fsync: what the mark guards against (a WAL deleted or a store set aside under a live or killed
 * process) leaves the page cache intact, and a power cut cannot lose committed WAL frames (the store
 * syncs them); an fsync per published batch tripled the cost of a decision under a burst.
 */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o640 });
  renameSync(tmp, file);
}
