import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';

/*
 * One story, played through the API on a manual clock (the ledger stamps postings from it), then
 * read back. Times are UTC; IST (the default zone) is UTC+05:30, so S2, S3 and S5 fall on
 * different days, weeks and months in IST than in UTC.
 *
 *   S1 2030-01-07T04:00Z (IST Mon 07 Jan 09:30)  alice deposits 1000 INR; bob 500, carol 300;
 *                                                mallory deposits 999 and sends bob 111
 *   S2 2030-01-08T20:00Z (IST Wed 09 Jan 01:30)  alice -> bob 120.50
 *   S3 2030-01-13T19:00Z (IST Mon 14 Jan 00:30)  bob -> alice 45.25   (UTC: Sunday 13, the week before)
 *   S4 2030-01-20T06:00Z (IST Sun 20 Jan 11:30)  carol -> alice 10; alice -> carol 5;
 *                                                alice withdraws 100, an admin completes it
 *   S5 2030-01-31T19:00Z (IST Fri 01 Feb 00:30)  alice -> dave 30     (UTC: still January)
 *   S6 2030-02-03T05:00Z (IST Sun 03 Feb 10:30)  alice deposits 250 USDT, sends bob 12.345678 USDT;
 *                                                alice -> erin 20, frank 15, grace 2.75 (INR);
 *                                                rita deposits 50, sends sam 20, reversed by a ledger correction
 *
 * Alice's INR wallet: income 1000 + 45.25 + 10 = 1055.25; spending 120.50 + 5 + 100 + 30 + 20 + 15
 * + 2.75 = 293.25; net 762 (her balance); 10 postings.
 */
const S1 = new Date('2030-01-07T04:00:00.000Z');
const S2 = new Date('2030-01-08T20:00:00.000Z');
const S3 = new Date('2030-01-13T19:00:00.000Z');
const S4 = new Date('2030-01-20T06:00:00.000Z');
const S5 = new Date('2030-01-31T19:00:00.000Z');
const S6 = new Date('2030-02-03T05:00:00.000Z');

const clock = createManualClock(S1);

let testApp: TestApp;
let admin: Account;
let alice: Account;
let bob: Account;
let carol: Account;
let dave: Account;
let erin: Account;
let frank: Account;
let grace: Account;
let mallory: Account;
let idle: Account;
let rita: Account;
let sam: Account;

const URL = '/api/v1/wallet/analytics';
const JANUARY_AND_FEBRUARY = 'startDate=2030-01-01&endDate=2030-02-28';

/** Access tokens live 15 minutes of the clock: sign in again whenever the clock has moved on. */
const sessions = new Map<string, { client: Client; at: number }>();
async function as(account: Account): Promise<Client> {
  const session = sessions.get(account.user.id);
  const now = clock.now().getTime();
  if (session !== undefined && now - session.at < 10 * 60_000 && now >= session.at) return session.client;
  const reply = await client(testApp.app).post('/api/v1/auth/login', {
    email: account.user.email,
    password: account.password,
  });
  expect(reply.statusCode, reply.body).toBe(200);
  const fresh = client(testApp.app, { authorization: `Bearer ${reply.json().data.accessToken}` });
  sessions.set(account.user.id, { client: fresh, at: now });
  return fresh;
}

const keyed = () => ({ 'idempotency-key': `key-${randomUUID()}` });

async function deposit(account: Account, amount: number, currency = 'INR'): Promise<void> {
  const reply = await (await as(account)).post(
    '/api/v1/wallet/deposit',
    { amount, currency, reference: `dep-${randomUUID()}` },
    keyed(),
  );
  expect(reply.statusCode, reply.body).toBe(201);
}

/** The transfer's ledger entry id. */
async function transfer(from: Account, to: Account, amount: number, currency = 'INR'): Promise<string> {
  const reply = await (await as(from)).post(
    '/api/v1/wallet/transfer',
    { to: to.user.email, amount, currency },
    keyed(),
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.transfer.entryId;
}

/** A correction posted by the ledger (no route makes one): the transfer's amount goes back. */
async function reverseTransfer(entryId: string, from: Account, to: Account, amountMinor: bigint) {
  const { ledger } = testApp.services;
  const [payer, payee] = await Promise.all([
    ledger.shardedOwnerAccount({ type: 'user', id: from.user.id }, 'wallet', 'INR', 1),
    ledger.shardedOwnerAccount({ type: 'user', id: to.user.id }, 'wallet', 'INR', 1),
  ]);
  await testApp.database.handle.db.transaction().execute((trx) =>
    ledger.post(trx, {
      type: 'reversal',
      idempotencyRef: `reversal:${entryId}`,
      reversesEntryId: entryId,
      postings: [
        { accountId: payee, amountMinor },
        { accountId: payer, amountMinor: -amountMinor },
      ],
    }),
  );
}

async function withdrawAndComplete(account: Account, amount: number): Promise<void> {
  const reply = await (await as(account)).post(
    '/api/v1/wallet/withdraw',
    { amount, destination: 'alice@okbank' },
    keyed(),
  );
  expect(reply.statusCode, reply.body).toBe(201);
  const completed = await (await as(admin)).post(
    `/api/v1/admin/withdrawals/${reply.json().data.withdrawal.id}/complete`,
  );
  expect(completed.statusCode, completed.body).toBe(200);
}

async function analytics(account: Account, query: string): Promise<Reply> {
  return (await as(account)).get(`${URL}?${query}`);
}

/** The reply's data, after checking it is a 200 success. */
async function analyticsData(account: Account, query: string) {
  const reply = await analytics(account, query);
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().success).toBe(true);
  return reply.json().data;
}

function fieldsOf(reply: Reply): string[] {
  return (reply.json().error.details as { field: string }[]).map((detail) => detail.field);
}

const flow = (income: number, spending: number, net: number, count: number) => ({
  income,
  spending,
  net,
  count,
});
const period = (name: string, income: number, spending: number, net: number, count: number) => ({
  period: name,
  ...flow(income, spending, net, count),
});
const ZERO = flow(0, 0, 0, 0);

beforeAll(async () => {
  testApp = await createTestApp({ clock });
  // User ids are time-ordered: a second apart, they sort in the order made.
  clock.set(new Date(S1.getTime() - 3_600_000));
  const user = async (role: 'admin' | 'user', name: string) => {
    clock.advance(1_000);
    return createAccount(testApp, role, name);
  };
  admin = await user('admin', 'Ada Admin');
  alice = await user('user', 'Alice Analyst');
  // Before carol: a smaller id must not be what decides the tie between them (carol has more transfers).
  frank = await user('user', 'Frank Funds');
  bob = await user('user', 'Bob Builder');
  carol = await user('user', 'Carol Cash');
  dave = await user('user', 'Dave Debit');
  erin = await user('user', 'Erin Earner');
  grace = await user('user', 'Grace Giver');
  mallory = await user('user', 'Mallory Other');
  idle = await user('user', 'Ida Idle');
  rita = await user('user', 'Rita Refund');
  sam = await user('user', 'Sam Sender');

  clock.set(S1);
  await deposit(alice, 1000);
  await deposit(bob, 500);
  await deposit(carol, 300);
  await deposit(mallory, 999);
  await transfer(mallory, bob, 111);

  clock.set(S2);
  await transfer(alice, bob, 120.5);

  clock.set(S3);
  await transfer(bob, alice, 45.25);

  clock.set(S4);
  await transfer(carol, alice, 10);
  await transfer(alice, carol, 5);
  await withdrawAndComplete(alice, 100);

  clock.set(S5);
  await transfer(alice, dave, 30);

  clock.set(S6);
  await deposit(alice, 250, 'USDT');
  await transfer(alice, bob, 12.345678, 'USDT');
  await transfer(alice, erin, 20);
  await transfer(alice, frank, 15);
  await transfer(alice, grace, 2.75);
  await deposit(rita, 50);
  await reverseTransfer(await transfer(rita, sam, 20), rita, sam, 2000n);
}, 60_000);

afterAll(async () => {
  await testApp?.close();
});

describe('GET /wallet/analytics: totals, types and counterparties', () => {
  it('sums the caller’s INR wallet over a range, by type and with the top five counterparties', async () => {
    const data = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&groupBy=month`);
    expect(data).toEqual({
      currency: 'INR',
      // Whole days in IST: 1 January 00:00 IST to the start of 1 March IST (exclusive).
      from: '2029-12-31T18:30:00.000Z',
      to: '2030-02-28T18:30:00.000Z',
      groupBy: 'month',
      timeZone: 'Asia/Kolkata',
      totals: flow(1055.25, 293.25, 762, 10),
      periods: [period('2030-01-01', 1055.25, 225.5, 829.75, 6), period('2030-02-01', 0, 67.75, -67.75, 4)],
      // Largest volume first: deposit 1000, transfers 55.25 + 193.25 = 248.50, withdrawal 100.
      byType: [
        { type: 'deposit', income: 1000, spending: 0, count: 1 },
        { type: 'transfer', income: 55.25, spending: 193.25, count: 8 },
        { type: 'withdrawal', income: 0, spending: 100, count: 1 },
      ],
      // Volumes: bob 165.75, dave 30, erin 20, carol 15 (2 transfers) before frank 15 (1); grace
      // (2.75) is sixth and left out. Deposits and the withdrawal have no counterparty.
      topCounterparties: [
        {
          userId: bob.user.id,
          name: 'Bob Builder',
          email: bob.user.email,
          sent: 120.5,
          received: 45.25,
          count: 2,
        },
        { userId: dave.user.id, name: 'Dave Debit', email: dave.user.email, sent: 30, received: 0, count: 1 },
        {
          userId: erin.user.id,
          name: 'Erin Earner',
          email: erin.user.email,
          sent: 20,
          received: 0,
          count: 1,
        },
        {
          userId: carol.user.id,
          name: 'Carol Cash',
          email: carol.user.email,
          sent: 5,
          received: 10,
          count: 2,
        },
        {
          userId: frank.user.id,
          name: 'Frank Funds',
          email: frank.user.email,
          sent: 15,
          received: 0,
          count: 1,
        },
      ],
    });
  });

  it('net over the whole history equals the wallet balance', async () => {
    const data = await analyticsData(alice, JANUARY_AND_FEBRUARY);
    const balance = await (await as(alice)).get('/api/v1/wallet/balance');
    const inr = balance.json().data.wallets.find((wallet: { currency: string }) => wallet.currency === 'INR');
    expect(inr.balance).toBe(762);
    expect(data.totals.net).toBe(inr.balance);
  });

  it('keeps currencies apart: USDT in its own six decimals', async () => {
    const data = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&currency=USDT`);
    expect(data.currency).toBe('USDT');
    expect(data.totals).toEqual(flow(250, 12.345678, 237.654322, 2));
    expect(data.periods).toEqual([period('2030-02-03', 250, 12.345678, 237.654322, 2)]);
    expect(data.byType).toEqual([
      { type: 'deposit', income: 250, spending: 0, count: 1 },
      { type: 'transfer', income: 0, spending: 12.345678, count: 1 },
    ]);
    expect(data.topCounterparties).toEqual([
      {
        userId: bob.user.id,
        name: 'Bob Builder',
        email: bob.user.email,
        sent: 12.345678,
        received: 0,
        count: 1,
      },
    ]);
    // A configured currency the user never used: zeros, not an error.
    const usd = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&currency=USD`);
    expect(usd).toMatchObject({
      currency: 'USD',
      totals: ZERO,
      periods: [],
      byType: [],
      topCounterparties: [],
    });
  });

  it('shows each user only their own wallet: the same transfers seen from the other side', async () => {
    const bobs = await analyticsData(bob, JANUARY_AND_FEBRUARY);
    // Bob: deposit 500, from mallory 111, from alice 120.50, to alice 45.25.
    expect(bobs.totals).toEqual(flow(731.5, 45.25, 686.25, 4));
    expect(bobs.topCounterparties).toEqual([
      {
        userId: alice.user.id,
        name: 'Alice Analyst',
        email: alice.user.email,
        sent: 45.25,
        received: 120.5,
        count: 2,
      },
      {
        userId: mallory.user.id,
        name: 'Mallory Other',
        email: mallory.user.email,
        sent: 0,
        received: 111,
        count: 1,
      },
    ]);
    const mallorys = await analyticsData(mallory, JANUARY_AND_FEBRUARY);
    expect(mallorys.totals).toEqual(flow(999, 111, 888, 2));
    expect(mallorys.byType).toEqual([
      { type: 'deposit', income: 999, spending: 0, count: 1 },
      { type: 'transfer', income: 0, spending: 111, count: 1 },
    ]);
    expect(mallorys.topCounterparties.map((row: { userId: string }) => row.userId)).toEqual([bob.user.id]);
  });

  it('counts a reversal by type but not as a transfer with the counterparty', async () => {
    const data = await analyticsData(rita, JANUARY_AND_FEBRUARY);
    expect(data.totals).toEqual(flow(70, 20, 50, 3));
    // Equal volumes (20) are ordered by type.
    expect(data.byType).toEqual([
      { type: 'deposit', income: 50, spending: 0, count: 1 },
      { type: 'reversal', income: 20, spending: 0, count: 1 },
      { type: 'transfer', income: 0, spending: 20, count: 1 },
    ]);
    expect(data.topCounterparties).toEqual([
      { userId: sam.user.id, name: 'Sam Sender', email: sam.user.email, sent: 20, received: 0, count: 1 },
    ]);
  });

  it('answers zeros and empty lists for a user with no activity', async () => {
    const data = await analyticsData(idle, `${JANUARY_AND_FEBRUARY}&groupBy=week`);
    expect(data).toMatchObject({
      currency: 'INR',
      groupBy: 'week',
      totals: ZERO,
      periods: [],
      byType: [],
      topCounterparties: [],
    });
  });
});

describe('GET /wallet/analytics: periods', () => {
  it('groups by day in IST by default, oldest first, only days with activity', async () => {
    const data = await analyticsData(alice, JANUARY_AND_FEBRUARY);
    expect(data.groupBy).toBe('day');
    expect(data.periods).toEqual([
      period('2030-01-07', 1000, 0, 1000, 1),
      period('2030-01-09', 0, 120.5, -120.5, 1),
      period('2030-01-14', 45.25, 0, 45.25, 1),
      period('2030-01-20', 10, 105, -95, 3),
      period('2030-02-01', 0, 30, -30, 1),
      period('2030-02-03', 0, 37.75, -37.75, 3),
    ]);
  });

  it('groups by day in another time zone', async () => {
    const data = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&tz=UTC`);
    expect(data.timeZone).toBe('UTC');
    expect(data.from).toBe('2030-01-01T00:00:00.000Z');
    expect(data.to).toBe('2030-03-01T00:00:00.000Z');
    expect(data.periods).toEqual([
      period('2030-01-07', 1000, 0, 1000, 1),
      period('2030-01-08', 0, 120.5, -120.5, 1),
      period('2030-01-13', 45.25, 0, 45.25, 1),
      period('2030-01-20', 10, 105, -95, 3),
      period('2030-01-31', 0, 30, -30, 1),
      period('2030-02-03', 0, 37.75, -37.75, 3),
    ]);
  });

  it('groups by ISO week, labelled by its Monday, in IST and in UTC', async () => {
    const ist = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&groupBy=week`);
    expect(ist.periods).toEqual([
      period('2030-01-07', 1000, 120.5, 879.5, 2),
      // S3 is Monday 14 January 00:30 in IST.
      period('2030-01-14', 55.25, 105, -49.75, 4),
      period('2030-01-28', 0, 67.75, -67.75, 4),
    ]);
    const utc = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&groupBy=week&tz=UTC`);
    expect(utc.periods).toEqual([
      // ...and Sunday 13 January in UTC.
      period('2030-01-07', 1045.25, 120.5, 924.75, 3),
      period('2030-01-14', 10, 105, -95, 3),
      period('2030-01-28', 0, 67.75, -67.75, 4),
    ]);
  });

  it('groups by month: S5 is February in IST, January in UTC', async () => {
    const utc = await analyticsData(alice, `${JANUARY_AND_FEBRUARY}&groupBy=month&tz=UTC`);
    expect(utc.periods).toEqual([
      period('2030-01-01', 1055.25, 255.5, 799.75, 7),
      period('2030-02-01', 0, 37.75, -37.75, 3),
    ]);
  });

  it('labels a partial first week by its Monday but counts only what is in the range', async () => {
    const data = await analyticsData(alice, 'startDate=2030-01-09&endDate=2030-01-31&groupBy=week');
    expect(data.from).toBe('2030-01-08T18:30:00.000Z');
    expect(data.periods).toEqual([
      period('2030-01-07', 0, 120.5, -120.5, 1),
      period('2030-01-14', 55.25, 105, -49.75, 4),
    ]);
    expect(data.totals).toEqual(flow(55.25, 225.5, -170.25, 5));
  });
});

describe('GET /wallet/analytics: date range', () => {
  it('reads date-only bounds as whole days in the time zone', async () => {
    const week = await analyticsData(alice, 'startDate=2030-01-14&endDate=2030-01-20');
    expect(week.totals).toEqual(flow(55.25, 105, -49.75, 4));
    expect(week.topCounterparties.map((row: { name: string }) => row.name)).toEqual([
      'Bob Builder',
      'Carol Cash',
    ]);

    // S2 is 9 January in IST, 8 January in UTC.
    const ist = await analyticsData(alice, 'startDate=2030-01-09&endDate=2030-01-09');
    expect(ist.totals).toEqual(flow(0, 120.5, -120.5, 1));
    const utc = await analyticsData(alice, 'startDate=2030-01-09&endDate=2030-01-09&tz=UTC');
    expect(utc).toMatchObject({ totals: ZERO, periods: [], byType: [], topCounterparties: [] });
  });

  it('includes both ends of a date-time range', async () => {
    const both = await analyticsData(alice, `startDate=${S2.toISOString()}&endDate=${S3.toISOString()}`);
    expect(both.totals).toEqual(flow(45.25, 120.5, -75.25, 2));
    expect(both.from).toBe(S2.toISOString());
    expect(both.to).toBe('2030-01-13T19:00:00.001Z');
    const beforeS3 = await analyticsData(
      alice,
      `startDate=${S2.toISOString()}&endDate=2030-01-13T18:59:59.999Z`,
    );
    expect(beforeS3.totals).toEqual(flow(0, 120.5, -120.5, 1));
    const afterS2 = await analyticsData(
      alice,
      `startDate=2030-01-08T20:00:00.001Z&endDate=${S3.toISOString()}`,
    );
    expect(afterS2.totals).toEqual(flow(45.25, 0, 45.25, 1));
  });

  it('reads an offset date-time as that instant and one without an offset as wall-clock time in tz', async () => {
    const offset = await analyticsData(
      alice,
      'startDate=2030-01-09T01:30:00%2B05:30&endDate=2030-01-09T01:30:00%2B05:30',
    );
    expect(offset.totals).toEqual(flow(0, 120.5, -120.5, 1));
    const wallClockIst = await analyticsData(
      alice,
      'startDate=2030-01-09T01:30:00&endDate=2030-01-09T01:30:00',
    );
    expect(wallClockIst.from).toBe(S2.toISOString());
    expect(wallClockIst.totals).toEqual(flow(0, 120.5, -120.5, 1));
    const wallClockUtc = await analyticsData(
      alice,
      'startDate=2030-01-08T20:00:00&endDate=2030-01-08T20:00:00&tz=UTC',
    );
    expect(wallClockUtc.totals).toEqual(flow(0, 120.5, -120.5, 1));
  });

  it('accepts a range of 366 days', async () => {
    const leapYear = await analyticsData(alice, 'startDate=2028-01-01&endDate=2028-12-31');
    expect(leapYear.totals).toEqual(ZERO);
  });

  it('defaults to the last 30 days up to now', async () => {
    clock.set(new Date('2030-02-10T05:00:00.000Z'));
    const data = await analyticsData(alice, '');
    // From 11 January 05:00: S3 onwards. Income 45.25 + 10; spending 5 + 100 + 30 + 20 + 15 + 2.75.
    expect(data).toMatchObject({
      currency: 'INR',
      from: '2030-01-11T05:00:00.001Z',
      to: '2030-02-10T05:00:00.001Z',
      groupBy: 'day',
      timeZone: 'Asia/Kolkata',
      totals: flow(55.25, 172.75, -117.5, 8),
    });
    // Only a start: up to now.
    const sinceFebruary = await analyticsData(alice, 'startDate=2030-02-01');
    expect(sinceFebruary.to).toBe('2030-02-10T05:00:00.001Z');
    expect(sinceFebruary.totals).toEqual(flow(0, 67.75, -67.75, 4));
    // Only an end: the 30 days before it.
    const toJanuary20 = await analyticsData(alice, 'endDate=2030-01-20');
    expect(toJanuary20.from).toBe('2029-12-21T18:30:00.000Z');
    expect(toJanuary20.totals).toEqual(flow(1055.25, 225.5, 829.75, 6));
  });
});

describe('GET /wallet/analytics: refusals', () => {
  const refusals: [string, string][] = [
    ['currency=EUR', 'currency'],
    ['currency=inr', 'currency'],
    ['tz=Mars%2FOlympus', 'tz'],
    ['groupBy=year', 'groupBy'],
    ['startDate=yesterday', 'startDate'],
    ['startDate=2030-02-30', 'startDate'],
    ['endDate=2030-13-01T00:00:00Z', 'endDate'],
    ['startDate=2030-02-01&endDate=2030-01-31', 'endDate'],
    // 367 days.
    ['startDate=2029-01-01&endDate=2030-01-02', 'endDate'],
    // From 2028 up to now (2030): more than 366 days.
    ['startDate=2028-01-01', 'startDate'],
  ];
  it.each(refusals)('400 VALIDATION_FAILED for %s, naming %s', async (query, field) => {
    const reply = await analytics(alice, query);
    expectError(reply, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(reply)).toEqual([field]);
  });

  it('401 without credentials', async () => {
    expectError(await client(testApp.app).get(`${URL}?${JANUARY_AND_FEBRUARY}`), 401, 'UNAUTHORIZED');
    expectError(
      await client(testApp.app, { authorization: 'Bearer not-a-token' }).get(URL),
      401,
      'INVALID_TOKEN',
    );
  });

  it('is documented in the OpenAPI document', async () => {
    const reply = await client(testApp.app).get('/api/openapi.json');
    expect(reply.statusCode).toBe(200);
    const operation = reply.json().paths['/api/v1/wallet/analytics'].get;
    expect(operation.parameters.map((parameter: { name: string }) => parameter.name).sort()).toEqual([
      'currency',
      'endDate',
      'groupBy',
      'startDate',
      'tz',
    ]);
  });

  it('is also served at the unversioned path', async () => {
    const reply = await (await as(alice)).get(`/api/wallet/analytics?${JANUARY_AND_FEBRUARY}&groupBy=month`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.totals).toEqual(flow(1055.25, 293.25, 762, 10));
  });
});
