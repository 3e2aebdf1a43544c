import { UnsupportedMediaType } from '../../errors.js';

/** What a file that does not parse as the image its first bytes claim answers: 415. */
export function unreadable(): UnsupportedMediaType {
  return new UnsupportedMediaType('The image could not be read.');
}

/**
 * A pull reader over a byte stream for the streaming image strippers: small fields are read
 * into view (`need`, `take`), long runs are passed on or skipped piece by piece as they
 * arrive (`pass`, `skip`), so no more than one source chunk (plus a few header bytes) is ever
 * held here, whatever the size of the file. A stream that ends inside a field is unreadable.
 */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** The bytes in view (at least what the last `need` asked for). */
  get view(): Buffer {
    return this.buf;
  }

  /** The next piece of the source, or undefined at its end. */
  private async pull(): Promise<Buffer | undefined> {
    if (this.ended) return undefined;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return undefined;
    }
    return next.value;
  }

  /** At least `n` bytes in view; false when the stream ends first. */
  async has(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const piece = await this.pull();
      if (piece === undefined) return false;
      this.buf = this.buf.length === 0 ? piece : Buffer.concat([this.buf, piece]);
    }
    return true;
  }

  async need(n: number): Promise<Buffer> {
    if (!(await this.has(n))) throw unreadable();
    return this.buf;
  }

  /** The next `n` bytes (a view: copy what is kept), consumed. */
  async take(n: number): Promise<Buffer> {
    await this.need(n);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next `n` bytes, handed on piece by piece as they arrive. */
  async *pass(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) this.buf = (await this.pull()) ?? fail();
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  /** The next `n` bytes, dropped as they arrive. */
  async skip(n: number): Promise<void> {
    for await (const piece of this.pass(n)) void piece;
  }

  /**
   * JPEG entropy-coded data: everything up to the next marker (0xFF followed by neither a
   * stuffed 0x00 nor a restart marker 0xD0–0xD7), handed on piece by piece.
   */
  async *scan(): AsyncGenerator<Buffer> {
    for (;;) {
      await this.need(2);
      const buf = this.buf;
      let from = 0;
      for (;;) {
        const ff = buf.indexOf(0xff, from);
        if (ff < 0 || ff === buf.length - 1) break;
        const next = buf[ff + 1]!;
        if (next === 0 || (next >= 0xd0 && next <= 0xd7)) {
          from = ff + 2;
          continue;
        }
        if (ff > 0) yield await this.take(ff);
        return;
      }
      // No marker in view: hand on all but a trailing 0xFF (it may begin one).
      const held = buf[buf.length - 1] === 0xff ? 1 : 0;
      if (buf.length > held) yield await this.take(buf.length - held);
      if (!(await this.has(2))) throw unreadable();
    }
  }

  /** Reads and drops whatever is left (so a size limit upstream still applies to it). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while ((await this.pull()) !== undefined);
  }
}

function fail(): never {
  throw unreadable();
}
