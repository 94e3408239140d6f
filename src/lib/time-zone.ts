/** Days, dates and reports are in Indian time unless a request names a zone. */
export const DEFAULT_TIME_ZONE = 'Asia/Kolkata';
const DAY_MS = 86_400_000;
const HALF_DAY_MS = DAY_MS / 2;
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `zone` is an IANA time zone this runtime knows (e.g. `Asia/Kolkata`, `UTC`). */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at `at`, in milliseconds (IST: +19_800_000). */
export function zoneOffsetMs(at: Date, zone: string): number {
  const parts = Object.fromEntries(
    formatterFor(zone)
      .formatToParts(at)
      .map((part) => [part.type, part.value]),
  );
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour) % 24,
    Number(parts.minute),
    Number(parts.second),
  );
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * When the calendar day `YYYY-MM-DD` begins in `zone`, as an instant: local midnight, or, where a
 * clock change skips midnight (America/Santiago), the first instant that is on that day. Each
 * offset in force around the day gives a candidate; the earliest candidate that falls on the day
 * is its start.
 */
export function startOfZonedDay(day: string, zone: string): Date {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  const midnightUtc = Date.UTC(year, month - 1, date);
  const offsets = new Set(
    [-HALF_DAY_MS, 0, HALF_DAY_MS, DAY_MS].map((shift) => zoneOffsetMs(new Date(midnightUtc + shift), zone)),
  );
  let start: number | null = null;
  for (const offset of offsets) {
    const candidate = midnightUtc - offset;
    if (localDateOf(new Date(candidate), zone) === day && (start === null || candidate < start))
      start = candidate;
  }
  if (start === null) throw new Error(`no instant of ${day} in ${zone}`);
  return new Date(start);
}

function localDateOf(at: Date, zone: string): string {
  const parts = Object.fromEntries(
    formatterFor(zone)
      .formatToParts(at)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** When the day after `YYYY-MM-DD` begins in `zone`: the exclusive end of that whole day. */
export function endOfZonedDay(day: string, zone: string): Date {
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
  return startOfZonedDay(next, zone);
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}
