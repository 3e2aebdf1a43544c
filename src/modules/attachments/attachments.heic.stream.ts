/**
 * The HEIC stripper, one pass over the file as it arrives (the box maths are in
 * attachments.heic.ts). Top-level boxes are read in order: everything up to the end of `meta`
 * (ftyp, and any free/skip/wide/uuid box before meta) is held, at most MAX_HEIC_PREFIX bytes;
 * from `meta` come the exact file ranges to zero and the dimensions. The held bytes are then
 * handed on, zeroed, and the rest of the file (mdat) streams through, each piece zeroed where
 * a range crosses it as it goes past: no more than one piece (and a box header) is held.
 * The output is byte for byte what the whole-file stripper gave (test/attachments/heic-legacy.ts).
 *
 * An `mdat` before `meta` is refused: the picture data would have gone on before the ranges
 * in it were known. Phones (iPhone, Samsung) write meta first.
 */
import {
  boxHeader,
  fail,
  HeicUnreadable,
  overlapsPicture,
  planMeta,
  TOP_LEVEL,
  type Box,
  type MetaPlan,
  type Range,
} from './attachments.heic.js';

/** `meta` and everything before it is held: a file whose meta ends later is refused. */
export const MAX_HEIC_PREFIX = 1024 * 1024;

export const LATE_META = 'HEIC files whose metadata follows the image data are not supported.';

/**
 * A push parser: `push` each piece of the file in order and hand on what it returns, then
 * `end`. Throws HeicUnreadable for a file the whole-file stripper refused too (and for an
 * mdat before meta, or a meta ending past MAX_HEIC_PREFIX). `plan` (dimensions included) is
 * there as soon as meta has been read, before any byte after it has been handed on.
 */
export class HeicStripper {
  plan: MetaPlan | undefined;
  /** Before meta: the file so far. After: a box header not yet complete. */
  private held: Buffer = Buffer.alloc(0);
  /** Before meta: where the next box starts in `held`; uuid payloads seen. */
  private next = 0;
  private readonly uuids: Range[] = [];
  /** After meta: the absolute offset of the next byte, and the box it is in. */
  private pos = 0;
  private box: Box | undefined;

  push(piece: Buffer): Buffer[] {
    if (this.plan) return this.stream(piece);
    this.held = Buffer.concat([this.held, piece]);
    const meta = this.prefix(false);
    if (!meta) return [];
    return this.release(meta);
  }

  end(): Buffer[] {
    const out = this.plan
      ? []
      : this.release(this.prefix(true) ?? fail('not exactly one meta box'));
    if (this.held.length > 0) fail('the file ends inside a box header');
    if (this.box && this.box.end !== Infinity && this.pos < this.box.end) fail('truncated');
    const size = this.pos;
    const plan = this.plan!;
    if (plan.reach > size) fail('an item extends past its data');
    // A uuid box running to the end of the file: only now is its end known.
    if (this.box?.type === 'uuid' && this.box.end === Infinity) {
      const open = (end: number) => (end === Infinity ? size : end);
      const body = this.box.body;
      if (plan.keep.some(([s, e]) => body < open(e) && s < size)) {
        fail('metadata overlaps a picture');
      }
    }
    return out;
  }

  /** Walks the held boxes before meta; meta once all of it is held (`ended`: the file is). */
  private prefix(ended: boolean): Box | null {
    for (;;) {
      const box = boxHeader(this.held, this.next);
      if (!box) return null;
      if (this.next === 0 && box.type !== 'ftyp') fail('no ftyp first');
      if (!TOP_LEVEL.has(box.type)) fail(`top-level box ${JSON.stringify(box.type)}`);
      if (box.type === 'mdat') throw new HeicUnreadable('mdat before meta', LATE_META);
      // A box running to the end of the file ends where the file does.
      const end = box.end === Infinity && ended ? this.held.length : box.end;
      if ((end === Infinity ? this.held.length : end) > MAX_HEIC_PREFIX) fail('meta ends too late');
      if (this.held.length < end) return null;
      const complete = { ...box, end };
      if (box.type === 'meta') return complete;
      if (box.type === 'uuid') this.uuids.push([box.body, end]);
      this.next = end;
    }
  }

  /** meta is complete: plan, hand on the held file zeroed, and stream what came after it. */
  private release(meta: Box): Buffer[] {
    const plan = planMeta(this.held, meta, this.uuids);
    this.plan = plan;
    const head = Buffer.from(this.held.subarray(0, meta.end));
    for (const [start, end] of plan.zero) head.fill(0, start, Math.min(end, head.length));
    const rest = this.held.subarray(meta.end);
    this.held = Buffer.alloc(0);
    this.pos = meta.end;
    this.box = meta;
    return [head, ...this.stream(rest)];
  }

  /** After meta: box headers read, every byte handed on, zeroed where a range says. */
  private stream(piece: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let rest = piece;
    while (rest.length > 0) {
      if (this.box && this.pos < this.box.end) {
        const n = Math.min(rest.length, this.box.end - this.pos);
        out.push(this.zeroed(rest.subarray(0, n), this.pos));
        this.pos += n;
        rest = rest.subarray(n);
        continue;
      }
      // A box header: at most 32 bytes, held until complete.
      const had = this.held.length;
      const header = Buffer.concat([this.held, rest.subarray(0, 32 - had)]);
      const box = boxHeader(header, 0);
      if (!box) {
        this.held = header;
        return out;
      }
      this.held = Buffer.alloc(0);
      this.start({ ...box, start: this.pos, body: this.pos + box.body, end: this.pos + box.end });
      const length = box.body;
      out.push(this.zeroed(header.subarray(0, length), this.pos));
      this.pos += length;
      rest = rest.subarray(length - had);
    }
    return out;
  }

  /** A top-level box after meta: one the whole-file stripper accepted there too. */
  private start(box: Box): void {
    if (!TOP_LEVEL.has(box.type)) fail(`top-level box ${JSON.stringify(box.type)}`);
    if (box.type === 'meta') fail('not exactly one meta box');
    if (box.type === 'uuid' && box.end !== Infinity) {
      if (overlapsPicture(this.plan!, [box.body, box.end])) fail('metadata overlaps a picture');
    }
    this.box = box;
  }

  /** The piece (at this offset in the file), with the planned ranges and a uuid payload zeroed. */
  private zeroed(piece: Buffer, at: number): Buffer {
    const end = at + piece.length;
    const ranges = [...this.plan!.zero];
    if (this.box?.type === 'uuid') ranges.push([this.box.body, this.box.end]);
    const hit = ranges.filter(([s, e]) => s < end && at < e);
    if (hit.length === 0) return piece;
    const copy = Buffer.from(piece);
    for (const [s, e] of hit) copy.fill(0, Math.max(s, at) - at, Math.min(e, end) - at);
    return copy;
  }
}

/** The HEIC without its metadata (a copy; same length, same offsets) and its dimensions. */
export function stripHeic(content: Buffer): { content: Buffer; width: number; height: number } {
  const stripper = new HeicStripper();
  const out = [...stripper.push(content), ...stripper.end()];
  const { width, height } = stripper.plan!;
  return { content: Buffer.concat(out), width, height };
}

/** The displayed dimensions of a HEIC (its primary item's `ispe`, turned by `irot`). */
export function heicDimensions(content: Buffer): { width: number; height: number } {
  const { width, height } = stripHeic(content);
  return { width, height };
}
