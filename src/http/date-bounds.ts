import {
  DEFAULT_TIME_ZONE,
  endOfZonedDay,
  isTimeZone,
  startOfZonedDay,
  zoneOffsetMs,
} from '../lib/time-zone.ts';
import { invalidField } from './errors.ts';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const HAS_OFFSET = /(Z|[+-]\d{2}:\d{2})$/;

/**
 * A `startDate`/`endDate` query value as an instant. A date alone is a whole day in `timeZone`
 * (an end is the start of the next day); a date-time is exact and, as an end, inclusive (the
 * returned bound is exclusive, 1 ms later); a date-time without an offset is wall-clock time in
 * `timeZone`. Anything else is a 400 naming the field (2026-02-30 included, which Date.parse
 * would read as 2 March).
 */
export function dateBound(field: string, value: string, timeZone: string, side: 'start' | 'end'): Date {
  const day = value.slice(0, 10);
  const parsedDay = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(parsedDay) || new Date(parsedDay).toISOString().slice(0, 10) !== day) {
    throw invalidField(field, 'is not a calendar date');
  }
  if (DATE_ONLY.test(value)) {
    return side === 'start' ? startOfZonedDay(value, timeZone) : endOfZonedDay(value, timeZone);
  }
  let at: number;
  if (HAS_OFFSET.test(value)) {
    at = Date.parse(value);
  } else {
    const wallClock = Date.parse(`${value}Z`);
    // The zone's offset near that wall-clock time, then at the instant it gives.
    const guess = wallClock - zoneOffsetMs(new Date(wallClock), timeZone);
    at = wallClock - zoneOffsetMs(new Date(guess), timeZone);
  }
  if (Number.isNaN(at)) throw invalidField(field, 'is not a valid date-time');
  return new Date(side === 'start' ? at : at + 1);
}

/** `startDate`/`endDate` in `tz` (default Asia/Kolkata) as instants: [from, to), either open. */
export function periodOf(query: {
  startDate?: string | undefined;
  endDate?: string | undefined;
  tz?: string | undefined;
}): {
  from: Date | undefined;
  to: Date | undefined;
} {
  const timeZone = query.tz ?? DEFAULT_TIME_ZONE;
  if (!isTimeZone(timeZone)) throw invalidField('tz', 'must be an IANA time zone such as Asia/Kolkata');
  return {
    from:
      query.startDate === undefined ? undefined : dateBound('startDate', query.startDate, timeZone, 'start'),
    to: query.endDate === undefined ? undefined : dateBound('endDate', query.endDate, timeZone, 'end'),
  };
}
