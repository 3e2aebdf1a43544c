import { randomInt } from 'node:crypto';
import { v7 } from 'uuid';

/** The highest value of uuid's 32-bit v7 sequence (spread over `rand_a` and `rand_b`). */
const MAX_SEQ = 0xffff_ffff;

let lastMs = -Infinity;
let seq = 0;

/**
 * A UUIDv7 (RFC 9562, from the `uuid` package): 48-bit Unix milliseconds, then random bits,
 * so ids sort by creation time and index well. `now` lets a caller stamp an id with the time
 * it records (an audit event's `at`); uuid keeps ids increasing only without it, so this
 * keeps the sequence itself: within one millisecond it counts up from a random start (RFC
 * 9562 §6.2, method 1), and a clock going backwards reuses the last millisecond rather than
 * emitting a smaller id.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    // A random start below 2^31 leaves at least 2^31 steps before the counter runs out.
    seq = randomInt(0x8000_0000);
  } else if (seq < MAX_SEQ) {
    seq += 1;
  } else {
    lastMs += 1;
    seq = randomInt(0x8000_0000);
  }
  return v7({ msecs: lastMs, seq });
}
