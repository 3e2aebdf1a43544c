/**
 * ISOBMFF boxes for the HEIC stripper (attachments.heic.ts, attachments.heic.stream.ts): a
 * bounds-checked big-endian field reader, the boxes inside a parent, a top-level box header.
 */
export class HeicUnreadable extends Error {
  override name = 'HeicUnreadable';
  /** A reason worth telling the uploader (fixed text, nothing from the file). */
  constructor(
    what: string,
    readonly detail?: string,
  ) {
    super(what);
  }
}

export interface Box {
  type: string;
  /** The first byte of the box, of its payload (after header, FullBox fields not included), one past its end. */
  start: number;
  body: number;
  end: number;
}

export type Range = [start: number, end: number];

export const TOP_LEVEL = new Set(['ftyp', 'meta', 'mdat', 'free', 'skip', 'wide', 'uuid']);

export function fail(what: string): never {
  throw new HeicUnreadable(what);
}

/** A bounds-checked big-endian reader over buf[pos, end). */
export class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  private need(n: number): number {
    if (this.pos + n > this.end) fail('a box ends inside a field');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  uint(bytes: number): number {
    if (bytes === 0) return 0;
    const at = this.need(bytes);
    if (bytes === 1) return this.buf.readUInt8(at);
    if (bytes === 2) return this.buf.readUInt16BE(at);
    if (bytes === 4) return this.buf.readUInt32BE(at);
    if (bytes === 8) {
      const value = this.buf.readBigUInt64BE(at);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('a 64-bit value is too large');
      return Number(value);
    }
    return fail(`a field of ${bytes} bytes`);
  }

  skip(n: number): void {
    this.need(n);
  }

  fourcc(): string {
    const at = this.need(4);
    return this.buf.toString('latin1', at, at + 4);
  }

  /** A null-terminated string (UTF-8). */
  string(): string {
    const zero = this.buf.indexOf(0, this.pos);
    if (zero < 0 || zero >= this.end) fail('a string is not terminated');
    const value = this.buf.toString('utf8', this.pos, zero);
    this.pos = zero + 1;
    return value;
  }

  /** FullBox version and flags. */
  full(): { version: number; flags: number } {
    const word = this.uint(4);
    return { version: word >>> 24, flags: word & 0xffffff };
  }
}

/** The boxes in buf[start, end), each checked to lie within it. */
export function boxesIn(buf: Buffer, start: number, end: number): Box[] {
  const found: Box[] = [];
  let pos = start;
  while (pos < end) {
    const reader = new Reader(buf, pos, end);
    let size = reader.uint(4);
    const type = reader.fourcc();
    if (size === 1) size = reader.uint(8);
    else if (size === 0) size = end - pos;
    if (type === 'uuid') reader.skip(16);
    if (size < reader.pos - pos || pos + size > end) fail(`box ${JSON.stringify(type)} overruns`);
    found.push({ type, start: pos, body: reader.pos, end: pos + size });
    pos += size;
  }
  return found;
}

/**
 * The header of the box at buf[at]: null when buf does not hold all of it yet. A size of 0
 * (the box runs to the end of the file) is an open end, Infinity.
 */
export function boxHeader(buf: Buffer, at: number): Box | null {
  if (buf.length < at + 8) return null;
  let size = buf.readUInt32BE(at);
  const type = buf.toString('latin1', at + 4, at + 8);
  let header = 8;
  if (size === 1) {
    if (buf.length < at + 16) return null;
    const large = buf.readBigUInt64BE(at + 8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) fail('a 64-bit value is too large');
    size = Number(large);
    header = 16;
  } else if (size === 0) size = Infinity;
  if (type === 'uuid') header += 16;
  if (buf.length < at + header) return null;
  if (size < header) fail(`box ${JSON.stringify(type)} overruns`);
  return { type, start: at, body: at + header, end: at + size };
}
