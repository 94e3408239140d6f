import { randomBytes, randomUUID } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): a 48-bit millisecond timestamp then random bits, so ids sort by creation
 * time and index well. Generated here rather than by the database, which may predate uuidv7().
 * Built from a v4 UUID (whose random bits Node draws from a cached entropy pool, cheaper than
 * randomBytes per id): its first 48 bits become the timestamp and its version nibble a 7; the
 * variant bits are already RFC 4122's.
 */
export function uuidv7(now: number = Date.now()): string {
  const random = randomUUID();
  const timestamp = now.toString(16).padStart(12, '0');
  return `${timestamp.slice(0, 8)}-${timestamp.slice(8, 12)}-7${counterAfter(now)}${random.slice(18)}`;
}

/**
 * RFC 9562's method 1: the 12 bits after the version are a counter within a millisecond, so ids
 * this process makes in one millisecond still sort in the order they were made (two rows of one
 * payment's history, written in one transaction, read back in order). A new millisecond starts
 * the counter at a random value below half its range, leaving room to count up; an id for an
 * earlier time (a test clock set back) takes a random one.
 */
const COUNTER_LIMIT = 0x1000;
let counterMs = -1;
let counter = 0;

function counterAfter(now: number): string {
  if (now === counterMs && counter < COUNTER_LIMIT - 1) {
    counter += 1;
  } else if (now > counterMs || now === counterMs) {
    counterMs = now;
    counter = randomBytes(2).readUInt16BE() & 0x7ff;
  } else {
    return (randomBytes(2).readUInt16BE() & 0xfff).toString(16).padStart(3, '0');
  }
  return counter.toString(16).padStart(3, '0');
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

const UPPERCASE_ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const DIGITS = '0123456789';

/** `length` characters drawn uniformly from `alphabet` (rejection sampling: no modulo bias). */
export function randomCode(length: number, alphabet: string = UPPERCASE_ALPHANUMERIC): string {
  const limit = 256 - (256 % alphabet.length);
  let code = '';
  while (code.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit) code += alphabet[byte % alphabet.length];
      if (code.length === length) break;
    }
  }
  return code;
}

export function randomDigits(length: number): string {
  return randomCode(length, DIGITS);
}
