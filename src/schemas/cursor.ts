import { BadRequest } from '../errors.js';
import { isUuid } from './uuid.js';

/**
 * The one cursor format of every list: the parts of a position in the list's order, joined by
 * `|` and base64url-encoded (opaque to clients). A cursor that does not decode to a position
 * of this list answers 400, naming `querystring.cursor`.
 */
export interface CursorCodec<T> {
  encode(position: T): string;
  /** undefined when no cursor was given; throws BadRequest for one this list never returned. */
  decode(cursor: string | undefined): T | undefined;
}

export function cursorCodec<T>(format: {
  parts(position: T): readonly string[];
  /** The position, or null when the parts are not one. */
  parse(parts: readonly string[]): T | null;
}): CursorCodec<T> {
  return {
    encode: (position) =>
      Buffer.from(format.parts(position).join('|'), 'utf8').toString('base64url'),
    decode(cursor) {
      if (cursor === undefined) return undefined;
      const position = format.parse(Buffer.from(cursor, 'base64url').toString('utf8').split('|'));
      if (position === null) {
        throw new BadRequest('The request is not valid.', [
          { path: 'querystring.cursor', message: 'is not a cursor of this list' },
        ]);
      }
      return position;
    },
  };
}

/** Lists ordered by a UUIDv7 id: the last id. */
export const idCursor = cursorCodec<string>({
  parts: (id) => [id],
  parse: ([id, ...rest]) => (rest.length === 0 && isUuid(id) ? id : null),
});

/** An RFC 3339 UTC time with up to microseconds, years 1900-9999 (what PostgreSQL can hold). */
const CURSOR_TIME = /^(19\d\d|[2-9]\d\d\d)-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** Lists ordered by (time, id): the time as text (microseconds kept) and the id. */
export const timeIdCursor = cursorCodec<{ at: string; id: string }>({
  parts: ({ at, id }) => [at, id],
  parse: ([at, id, ...rest]) =>
    rest.length === 0 &&
    at !== undefined &&
    CURSOR_TIME.test(at) &&
    !Number.isNaN(Date.parse(at)) &&
    isUuid(id)
      ? { at, id }
      : null,
});
