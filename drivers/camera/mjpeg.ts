/**
 * Splits an MJPEG byte stream (concatenated JPEG images, as `rpicam-vid --codec mjpeg -o -` or
 * `ffmpeg … -f mjpeg -` write them) into single JPEG frames. Pure and incremental: chunks may end
 * anywhere, markers may be split across chunks, and garbage between frames is skipped.
 *
 * A frame runs from SOI (FF D8) to EOI (FF D9). To find the right EOI the splitter walks the marker
 * segments by their lengths (so an EXIF thumbnail's own SOI/EOI inside APP1 is stepped over) and,
 * after SOS, scans the entropy-coded data, where FF is followed by 00 (stuffing) or D0–D7 (restart
 * markers) and any other marker ends the scan. The bytes buffered for one frame are bounded
 * (`maxFrameBytes`); a frame over the bound, or malformed, is dropped and the splitter looks for
 * the next SOI.
 */

export interface MjpegSplitterOptions {
  /** Largest frame kept, bytes; default 4 MiB (a 1920×1080 JPEG is typically 0.2–0.6 MiB). */
  maxFrameBytes?: number;
}

export interface MjpegCounters {
  frames: number;
  /** Bytes outside any frame (before an SOI, or of dropped frames). */
  garbageBytes: number;
  /** Frames dropped for exceeding maxFrameBytes. */
  oversize: number;
  /** Frames dropped for a malformed marker structure. */
  malformed: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const EMPTY = Buffer.alloc(0);

type State = 'seek' | 'segments' | 'entropy';

export class MjpegSplitter {
  readonly maxFrameBytes: number;
  readonly counters: MjpegCounters = { frames: 0, garbageBytes: 0, oversize: 0, malformed: 0 };
  /** Unconsumed bytes; in states other than `seek`, a frame starts at offset 0. */
  #buf: Buffer = EMPTY;
  /** Next offset to examine. */
  #pos = 0;
  #state: State = 'seek';

  constructor(options: MjpegSplitterOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
  }

  /** Feeds a chunk; returns the frames it completed (each a fresh Buffer), possibly none. */
  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length === 0) return frames;
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const progressed = this.#step(frames);
      if (!progressed) break;
    }
    if (this.#state !== 'seek' && this.#buf.length > this.maxFrameBytes) {
      this.counters.oversize++;
      this.#drop(this.#buf.length);
    }
    return frames;
  }

  /** Forgets any partial frame (e.g. when the producing process restarts). */
  reset(): void {
    if (this.#buf.length > 0) this.counters.garbageBytes += this.#buf.length;
    this.#buf = EMPTY;
    this.#pos = 0;
    this.#state = 'seek';
  }

  /** One parsing step; false when more input is needed. */
  #step(frames: Buffer[]): boolean {
    const buf = this.#buf;
    switch (this.#state) {
      case 'seek': {
        let i = buf.indexOf(0xff, this.#pos);
        while (i >= 0 && i + 1 < buf.length && buf[i + 1] !== SOI) i = buf.indexOf(0xff, i + 1);
        if (i < 0) {
          this.#discard(buf.length);
          return false;
        }
        if (i + 1 >= buf.length) {
          // A lone FF at the end may be the first half of an SOI.
          this.#discard(i);
          return false;
        }
        this.#discard(i);
        this.#pos = 2;
        this.#state = 'segments';
        return true;
      }
      case 'segments': {
        let p = this.#pos;
        if (p >= buf.length) return false;
        if (buf[p] !== 0xff) return this.#malformed();
        while (p < buf.length && buf[p] === 0xff) p++; // fill bytes before a marker
        if (p >= buf.length) return false;
        const marker = buf[p]!;
        const at = p - 1; // offset of the FF before the marker
        if (marker === EOI) {
          frames.push(Buffer.from(buf.subarray(0, at + 2)));
          this.counters.frames++;
          this.#consume(at + 2);
          this.#state = 'seek';
          return true;
        }
        if (marker === SOI) {
          // A new image before this one ended: this one was truncated.
          this.counters.malformed++;
          this.counters.garbageBytes += at;
          this.#consume(at);
          this.#pos = 2;
          return true;
        }
        if (marker === 0x00) return this.#malformed();
        if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
          this.#pos = at + 2;
          return true;
        }
        if (at + 4 > buf.length) return false;
        const length = buf.readUInt16BE(at + 2);
        if (length < 2) return this.#malformed();
        const end = at + 2 + length;
        if (end > buf.length) {
          this.#pos = at;
          return false;
        }
        this.#pos = end;
        if (marker === SOS) this.#state = 'entropy';
        return true;
      }
      case 'entropy': {
        let i = buf.indexOf(0xff, this.#pos);
        for (;;) {
          if (i < 0) {
            this.#pos = buf.length;
            return false;
          }
          if (i + 1 >= buf.length) {
            this.#pos = i;
            return false;
          }
          const next = buf[i + 1]!;
          if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) i = buf.indexOf(0xff, i + 2);
          else if (next === 0xff) i = i + 1;
          else break;
        }
        this.#pos = i;
        this.#state = 'segments';
        return true;
      }
    }
  }

  /**
   * Drops the current frame and resynchronises on the next SOI after its start: bytes of the
   * bad frame are searched again, because a truncated frame's last segment length may have
   * swallowed the beginning of the next frame.
   */
  #malformed(): boolean {
    this.counters.malformed++;
    this.#drop(2);
    return true;
  }

  #drop(n: number): void {
    this.counters.garbageBytes += n;
    this.#consume(n);
    this.#state = 'seek';
  }

  #discard(n: number): void {
    this.counters.garbageBytes += n;
    this.#consume(n);
  }

  #consume(n: number): void {
    this.#buf = n >= this.#buf.length ? EMPTY : this.#buf.subarray(n);
    this.#pos = 0;
  }
}
