import { describe, expect, it } from 'vitest';
import { endOfZonedDay, isTimeZone, startOfZonedDay, zoneOffsetMs } from './time-zone.ts';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * HOUR_MS;

const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** The calendar date and wall time of `at` in `zone`, e.g. `2026-03-08 00:00:00`. */
function wallClock(at: Date, zone: string): string {
  let format = wallClocks.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('sv-SE', { timeZone: zone, dateStyle: 'short', timeStyle: 'medium' });
    wallClocks.set(zone, format);
  }
  return format.format(at);
}

function hoursIn(day: string, zone: string): number {
  return (endOfZonedDay(day, zone).getTime() - startOfZonedDay(day, zone).getTime()) / HOUR_MS;
}

describe('isTimeZone', () => {
  it.each(['Asia/Kolkata', 'UTC', 'America/New_York', 'Asia/Kathmandu', 'Europe/London'])(
    'accepts %s',
    (zone) => {
      expect(isTimeZone(zone)).toBe(true);
    },
  );

  it.each(['', 'Mars/Olympus', 'Asia/Bangalore', 'not a zone', 'Asia/Kolkata '])('refuses %j', (zone) => {
    expect(isTimeZone(zone)).toBe(false);
  });
});

describe('zoneOffsetMs', () => {
  const january = new Date('2026-01-15T12:00:00Z');
  const july = new Date('2026-07-15T12:00:00Z');

  it('gives +5:30 for Asia/Kolkata all year', () => {
    expect(zoneOffsetMs(january, 'Asia/Kolkata')).toBe(19_800_000);
    expect(zoneOffsetMs(july, 'Asia/Kolkata')).toBe(5 * HOUR_MS + 30 * MINUTE_MS);
  });

  it('gives 0 for UTC', () => {
    expect(zoneOffsetMs(january, 'UTC')).toBe(0);
    expect(zoneOffsetMs(july, 'UTC')).toBe(0);
  });

  it('gives +5:45 for Asia/Kathmandu', () => {
    expect(zoneOffsetMs(january, 'Asia/Kathmandu')).toBe(5 * HOUR_MS + 45 * MINUTE_MS);
  });

  it('gives -5:00 in January and -4:00 in July for America/New_York', () => {
    expect(zoneOffsetMs(january, 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(zoneOffsetMs(july, 'America/New_York')).toBe(-4 * HOUR_MS);
  });

  it('changes at the exact instant of a DST switch', () => {
    // 2026-03-08 02:00 EST becomes 03:00 EDT at 07:00Z; 2026-11-01 02:00 EDT becomes 01:00 EST at 06:00Z.
    expect(zoneOffsetMs(new Date('2026-03-08T06:59:59.999Z'), 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(zoneOffsetMs(new Date('2026-03-08T07:00:00.000Z'), 'America/New_York')).toBe(-4 * HOUR_MS);
    expect(zoneOffsetMs(new Date('2026-11-01T05:59:59.999Z'), 'America/New_York')).toBe(-4 * HOUR_MS);
    expect(zoneOffsetMs(new Date('2026-11-01T06:00:00.000Z'), 'America/New_York')).toBe(-5 * HOUR_MS);
  });

  it('ignores milliseconds, and works before 1970', () => {
    expect(zoneOffsetMs(new Date('2026-01-15T12:00:00.999Z'), 'Asia/Kolkata')).toBe(19_800_000);
    expect(zoneOffsetMs(new Date(-500), 'UTC')).toBe(0);
    expect(zoneOffsetMs(new Date('1969-07-20T20:17:40.250Z'), 'Asia/Kolkata')).toBe(19_800_000);
  });
});

describe('startOfZonedDay and endOfZonedDay', () => {
  it('gives IST midnight for Asia/Kolkata', () => {
    expect(startOfZonedDay('2026-03-10', 'Asia/Kolkata').toISOString()).toBe('2026-03-09T18:30:00.000Z');
    expect(endOfZonedDay('2026-03-10', 'Asia/Kolkata').toISOString()).toBe('2026-03-10T18:30:00.000Z');
  });

  it('gives UTC midnight for UTC, and +5:45 for Asia/Kathmandu', () => {
    expect(startOfZonedDay('2026-03-10', 'UTC').toISOString()).toBe('2026-03-10T00:00:00.000Z');
    expect(endOfZonedDay('2026-03-10', 'UTC').toISOString()).toBe('2026-03-11T00:00:00.000Z');
    expect(startOfZonedDay('2026-03-10', 'Asia/Kathmandu').toISOString()).toBe('2026-03-09T18:15:00.000Z');
  });

  it('makes the spring-forward day in New York 23 hours long', () => {
    expect(startOfZonedDay('2026-03-08', 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(endOfZonedDay('2026-03-08', 'America/New_York').toISOString()).toBe('2026-03-09T04:00:00.000Z');
    expect(hoursIn('2026-03-08', 'America/New_York')).toBe(23);
    expect(hoursIn('2026-03-07', 'America/New_York')).toBe(24);
    expect(hoursIn('2026-03-09', 'America/New_York')).toBe(24);
  });

  it('makes the fall-back day in New York 25 hours long', () => {
    expect(startOfZonedDay('2026-11-01', 'America/New_York').toISOString()).toBe('2026-11-01T04:00:00.000Z');
    expect(endOfZonedDay('2026-11-01', 'America/New_York').toISOString()).toBe('2026-11-02T05:00:00.000Z');
    expect(hoursIn('2026-11-01', 'America/New_York')).toBe(25);
    expect(hoursIn('2026-10-31', 'America/New_York')).toBe(24);
    expect(hoursIn('2026-11-02', 'America/New_York')).toBe(24);
  });

  it('crosses a year boundary', () => {
    expect(endOfZonedDay('2026-12-31', 'Asia/Kolkata').toISOString()).toBe('2026-12-31T18:30:00.000Z');
    expect(startOfZonedDay('2027-01-01', 'Asia/Kolkata').toISOString()).toBe('2026-12-31T18:30:00.000Z');
    expect(startOfZonedDay('2026-12-31', 'America/New_York').toISOString()).toBe('2026-12-31T05:00:00.000Z');
    expect(endOfZonedDay('2026-12-31', 'America/New_York').toISOString()).toBe('2027-01-01T05:00:00.000Z');
    expect(endOfZonedDay('2026-12-31', 'UTC').toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('crosses month ends and leap days', () => {
    expect(endOfZonedDay('2028-02-28', 'UTC').toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(endOfZonedDay('2028-02-29', 'Asia/Kolkata').toISOString()).toBe('2028-02-29T18:30:00.000Z');
    expect(endOfZonedDay('2026-02-28', 'Asia/Kolkata').toISOString()).toBe('2026-02-28T18:30:00.000Z');
    expect(endOfZonedDay('2026-04-30', 'UTC').toISOString()).toBe('2026-05-01T00:00:00.000Z');
  });

  it.each([
    'Asia/Kolkata',
    'UTC',
    'Asia/Kathmandu',
    'America/New_York',
    'Europe/London',
    'Australia/Lord_Howe',
    'Asia/Beirut',
    'Pacific/Chatham',
  ])('starts every day of 2026 at its first instant in %s', (zone) => {
    const problems: string[] = [];
    for (let at = Date.UTC(2026, 0, 1); at < Date.UTC(2027, 0, 1); at += DAY_MS) {
      const day = new Date(at).toISOString().slice(0, 10);
      const start = startOfZonedDay(day, zone);
      const onDay = wallClock(start, zone).slice(0, 10);
      const before = wallClock(new Date(start.getTime() - 1), zone).slice(0, 10);
      if (onDay !== day || before === day) problems.push(`${day}: starts ${start.toISOString()}`);
      if (endOfZonedDay(day, zone).getTime() <= start.getTime())
        problems.push(`${day}: ends before it starts`);
    }
    expect(problems).toEqual([]);
  });

  // Chile and Cuba move the clock from 00:00 to 01:00 when summer time starts: that day begins at 01:00.
  it('starts a day whose midnight is skipped at its first instant (DST at midnight, west of UTC)', () => {
    // America/Santiago: 2026-09-06 00:00 -04 does not exist; the day begins at 01:00 -03 = 04:00Z.
    expect(startOfZonedDay('2026-09-06', 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(endOfZonedDay('2026-09-05', 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(hoursIn('2026-09-05', 'America/Santiago')).toBe(24);
    expect(hoursIn('2026-09-06', 'America/Santiago')).toBe(23);
    // America/Havana: 2026-03-08 00:00 CST does not exist; the day begins at 01:00 CDT = 05:00Z.
    expect(startOfZonedDay('2026-03-08', 'America/Havana').toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(hoursIn('2026-03-08', 'America/Havana')).toBe(23);
  });

  it('handles a day whose last hour repeats at midnight (DST ends at midnight)', () => {
    // America/Santiago: on 2026-04-04 at 24:00 -03 the clock goes back to 23:00 -04; 2026-04-05 begins at 04:00Z.
    expect(startOfZonedDay('2026-04-05', 'America/Santiago').toISOString()).toBe('2026-04-05T04:00:00.000Z');
    expect(hoursIn('2026-04-04', 'America/Santiago')).toBe(25);
  });
});
