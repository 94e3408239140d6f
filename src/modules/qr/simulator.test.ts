import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  type TestApp,
} from '../../../test/app.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/database.ts';
import { ConfigError, parseConfig } from '../../config.ts';
import { createDatabase } from '../../db/database.ts';
import { createManualClock } from '../../lib/clock.ts';
import { seededRandom } from './simulation-data.ts';

/** The deterministic app: a manual clock, runs made by calling runDue(). */
const INTERVAL_MS = 1_000;
const CAP = 10;
/** The background apps: a short interval set by configuration. */
const FAST_INTERVAL_MS = 50;
const WAIT_MS = 20_000;

let testApp: TestApp;
let clock: ReturnType<typeof createManualClock>;
/** A draw the next simulated payments use instead of the seeded sequence (null: the sequence). */
let forcedDraw: number | null = null;
let owner: Account;
let stranger: Account;
let admin: Account;

beforeAll(async () => {
  clock = createManualClock(new Date('2025-06-02T04:30:00.000Z'));
  const seeded = seededRandom(20250602);
  testApp = await createTestApp({
    env: { SIMULATION_INTERVAL_MS: String(INTERVAL_MS), MAX_TRANSACTIONS_PER_QR: String(CAP) },
    clock,
    random: () => forcedDraw ?? seeded(),
  });
  [owner, stranger, admin] = await Promise.all([
    createAccount(testApp, 'merchant'),
    createAccount(testApp, 'merchant'),
    createAccount(testApp, 'admin'),
  ]);
});
afterAll(async () => {
  await testApp?.close();
});
// runDue() claims every due code in the database: each test starts from no active simulation.
afterEach(async () => {
  forcedDraw = null;
  await testApp.database.handle.db
    .updateTable('qrCodes')
    .set({ simulationActive: false, simulationNextRunAt: null })
    .execute();
});

interface QrFields {
  category?: 'Retail' | 'Rental' | 'Education' | 'Custom';
  maxAmount?: number;
  status?: 'Active' | 'Inactive';
  simulationActive?: boolean;
}

async function createQr(by: Client, fields: QrFields = {}): Promise<{ id: string; qrId: string }> {
  const reply = await by.post('/api/qr', {
    vpa: 'counter.one@okaxis',
    referenceName: 'Counter One',
    category: 'Retail',
    ...fields,
  });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

function rowOf(app: TestApp, qrId: string) {
  return app.database.handle.db
    .selectFrom('qrCodes')
    .select(['qrId', 'status', 'simulationActive', 'simulationGenerated', 'simulationNextRunAt'])
    .where('qrId', '=', qrId)
    .executeTakeFirst();
}

async function setGenerated(qrId: string, generated: number): Promise<void> {
  await testApp.database.handle.db
    .updateTable('qrCodes')
    .set({ simulationGenerated: generated })
    .where('qrId', '=', qrId)
    .execute();
}

function paymentsOf(app: TestApp, qrId: string) {
  return app.database.handle.db
    .selectFrom('qrTransactions')
    .selectAll()
    .where('qrId', '=', qrId)
    .orderBy('occurredAt')
    .orderBy('id')
    .execute();
}

function at(offsetMs: number): string {
  return new Date(clock.now().getTime() + offsetMs).toISOString();
}

/** Advances the manual clock by one interval and makes one poll. */
async function nextRun(): Promise<number> {
  clock.advance(INTERVAL_MS);
  return testApp.services.simulationRunner.runDue();
}

/** The runs of one code: all payments of a run share its time. */
function runsOf(payments: readonly { occurredAt: Date }[]): { at: number; size: number }[] {
  const sizes = new Map<number, number>();
  for (const payment of payments) {
    const time = payment.occurredAt.getTime();
    sizes.set(time, (sizes.get(time) ?? 0) + 1);
  }
  return [...sizes.entries()].sort(([a], [b]) => a - b).map(([time, size]) => ({ at: time, size }));
}

/** Every run adds 1 to 3 payments, and each run comes at least an interval after the one before. */
function expectSingleRuns(runs: readonly { at: number; size: number }[], intervalMs: number): void {
  expect(runs.filter((run) => run.size < 1 || run.size > 3)).toEqual([]);
  const gaps = runs.slice(1).map((run, index) => run.at - (runs[index] as { at: number }).at);
  expect(gaps.filter((gap) => gap < intervalMs)).toEqual([]);
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, (_key, v) => String(v))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function fastEnv(cap: number): Record<string, string> {
  return { SIMULATION_INTERVAL_MS: String(FAST_INTERVAL_MS), MAX_TRANSACTIONS_PER_QR: String(cap) };
}

describe('configuration', () => {
  it('reads SIMULATION_INTERVAL_MS (default 5000, at least 10) and MAX_TRANSACTIONS_PER_QR (default 100)', () => {
    expect(parseConfig({ NODE_ENV: 'test' })).toMatchObject({
      simulationIntervalMs: 5_000,
      maxTransactionsPerQr: 100,
    });
    expect(parseConfig({ SIMULATION_INTERVAL_MS: '10', MAX_TRANSACTIONS_PER_QR: '1' })).toMatchObject({
      simulationIntervalMs: 10,
      maxTransactionsPerQr: 1,
    });
    expect(testApp.config).toMatchObject({ simulationIntervalMs: INTERVAL_MS, maxTransactionsPerQr: CAP });
    for (const env of [
      { SIMULATION_INTERVAL_MS: '9' },
      { SIMULATION_INTERVAL_MS: 'soon' },
      { MAX_TRANSACTIONS_PER_QR: '0' },
    ]) {
      let problems: readonly string[] = [];
      try {
        parseConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        problems = (error as ConfigError).problems;
      }
      expect(problems.join('; '), JSON.stringify(env)).toContain(Object.keys(env)[0] as string);
    }
  });
});

describe('starting and stopping', () => {
  it('start schedules the first run one interval later, stop clears it; both are idempotent', async () => {
    const qr = await createQr(owner.client);
    const nextRunAt = at(INTERVAL_MS);

    const started = await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json()).toEqual({
      success: true,
      data: { simulation: { qrId: qr.qrId, simulationActive: true, generated: 0, nextRunAt } },
      message: 'Simulation started',
    });
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: true,
      simulationGenerated: 0,
      simulationNextRunAt: new Date(nextRunAt),
    });

    // Starting a running simulation changes nothing (the schedule is not pushed back).
    clock.advance(300);
    const again = await owner.client.post(`/api/v1/simulation/${qr.qrId}/start`);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().data.simulation).toEqual({
      qrId: qr.qrId,
      simulationActive: true,
      generated: 0,
      nextRunAt,
    });

    const stopped = await owner.client.post(`/api/simulation/${qr.qrId}/stop`);
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(stopped.json()).toEqual({
      success: true,
      data: { simulation: { qrId: qr.qrId, simulationActive: false, generated: 0, nextRunAt: null } },
      message: 'Simulation stopped',
    });
    const stoppedAgain = await owner.client.post(`/api/simulation/${qr.id}/stop`);
    expect(stoppedAgain.statusCode, stoppedAgain.body).toBe(200);
    expect(stoppedAgain.json().data.simulation).toEqual({
      qrId: qr.qrId,
      simulationActive: false,
      generated: 0,
      nextRunAt: null,
    });
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: false,
      simulationNextRunAt: null,
    });
  });

  it('toggle flips the state, and /api/qr/:id/simulation is the same switch', async () => {
    const qr = await createQr(owner.client);
    const states: boolean[] = [];
    for (const url of [
      `/api/qr/${qr.id}/simulation`,
      `/api/simulation/${qr.qrId}/toggle`,
      `/api/v1/simulation/${qr.qrId}/toggle`,
      `/api/qr/${qr.qrId}/simulation`,
    ]) {
      const reply = await owner.client.post(url);
      expect(reply.statusCode, `${url}: ${reply.body}`).toBe(200);
      states.push(reply.json().data.simulation.simulationActive);
      const shown = await owner.client.get(`/api/qr/${qr.id}`);
      expect(shown.json().data.qrCode.simulationActive).toBe(reply.json().data.simulation.simulationActive);
    }
    expect(states).toEqual([true, false, true, false]);

    const toggledOn = await owner.client.post(`/api/qr/${qr.id}/simulation`);
    expect(toggledOn.json()).toMatchObject({
      data: { simulation: { simulationActive: true } },
      message: 'Simulation started',
    });
    const status = await owner.client.get('/api/simulation/status');
    expect(status.json().data.simulations).toContainEqual({
      qrId: qr.qrId,
      simulationActive: true,
      generated: 0,
      nextRunAt: at(INTERVAL_MS),
    });
    const stopped = await owner.client.post(`/api/simulation/${qr.qrId}/stop`);
    expect(stopped.json().data.simulation.simulationActive).toBe(false);
    expect((await owner.client.get(`/api/qr/${qr.id}`)).json().data.qrCode.simulationActive).toBe(false);
  });

  it('refuses to start an Inactive QR code with 409 QR_INACTIVE; stopping it is a no-op', async () => {
    const qr = await createQr(owner.client, { status: 'Inactive' });
    expectError(await owner.client.post(`/api/simulation/${qr.qrId}/start`), 409, 'QR_INACTIVE');
    expectError(await owner.client.post(`/api/simulation/${qr.qrId}/toggle`), 409, 'QR_INACTIVE');
    expectError(await owner.client.post(`/api/qr/${qr.id}/simulation`), 409, 'QR_INACTIVE');
    const stop = await owner.client.post(`/api/simulation/${qr.qrId}/stop`);
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json().data.simulation).toEqual({
      qrId: qr.qrId,
      simulationActive: false,
      generated: 0,
      nextRunAt: null,
    });
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({ status: 'Inactive', simulationActive: false });
    // Creating an Inactive code with its simulation on is refused too.
    const reply = await owner.client.post('/api/qr', {
      vpa: 'counter.one@okaxis',
      referenceName: 'Counter One',
      status: 'Inactive',
      simulationActive: true,
    });
    expectError(reply, 409, 'QR_INACTIVE');
  });

  it('refuses to start a code at MAX_TRANSACTIONS_PER_QR with 409 SIMULATION_LIMIT_REACHED', async () => {
    const qr = await createQr(owner.client);
    await setGenerated(qr.qrId, CAP - 1);
    const oneBelow = await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    expect(oneBelow.statusCode, oneBelow.body).toBe(200);
    expect(oneBelow.json().data.simulation).toMatchObject({ simulationActive: true, generated: CAP - 1 });
    await owner.client.post(`/api/simulation/${qr.qrId}/stop`);

    await setGenerated(qr.qrId, CAP);
    for (const url of [
      `/api/simulation/${qr.qrId}/start`,
      `/api/simulation/${qr.qrId}/toggle`,
      `/api/qr/${qr.id}/simulation`,
    ]) {
      const reply = await owner.client.post(url);
      expectError(reply, 409, 'SIMULATION_LIMIT_REACHED');
      expect(reply.json().error.message).toBe(`QR code ${qr.qrId} already has ${CAP} simulated transactions`);
    }
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: false,
      simulationGenerated: CAP,
    });
  });

  it("answers 404 QR_NOT_FOUND for another merchant's or an unknown code; an admin may switch any", async () => {
    const qr = await createQr(owner.client);
    for (const url of [
      `/api/simulation/${qr.qrId}/start`,
      `/api/simulation/${qr.qrId}/toggle`,
      `/api/simulation/${qr.qrId}/stop`,
      `/api/qr/${qr.id}/simulation`,
      `/api/qr/${qr.qrId}/simulation`,
      '/api/simulation/ZZZZ9/start',
    ]) {
      expectError(await stranger.client.post(url), 404, 'QR_NOT_FOUND');
    }
    expectError(await owner.client.post('/api/simulation/ZZZZ9/start'), 404, 'QR_NOT_FOUND');
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: false,
      simulationNextRunAt: null,
    });

    const byAdmin = await admin.client.post(`/api/simulation/${qr.qrId}/start`);
    expect(byAdmin.statusCode, byAdmin.body).toBe(200);
    expect(byAdmin.json().data.simulation).toMatchObject({ qrId: qr.qrId, simulationActive: true });

    const user = await createAccount(testApp, 'user');
    expectError(await user.client.post(`/api/simulation/${qr.qrId}/stop`), 403, 'FORBIDDEN');
    expectError(await user.client.get('/api/simulation/status'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).post(`/api/simulation/${qr.qrId}/stop`), 401, 'UNAUTHORIZED');
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({ simulationActive: true });
  });

  it('creating a QR code with simulationActive: true starts it like start does (first run one interval later)', async () => {
    const reply = await owner.client.post('/api/qr', {
      vpa: 'counter.one@okaxis',
      referenceName: 'Counter One',
      simulationActive: true,
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const { qrId, simulationActive } = reply.json().data.qrCode;
    expect(simulationActive).toBe(true);
    expect(await rowOf(testApp, qrId)).toMatchObject({
      simulationActive: true,
      simulationGenerated: 0,
      simulationNextRunAt: new Date(at(INTERVAL_MS)),
    });
  });
});

describe('status and stop-all', () => {
  it("lists the caller's codes that are active or have simulated payments; an admin sees all", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const none = await merchant.client.get('/api/simulation/status');
    expect(none.statusCode, none.body).toBe(200);
    expect(none.json()).toEqual({ success: true, data: { activeCount: 0, simulations: [] } });

    const active = await createQr(merchant.client);
    const finished = await createQr(merchant.client);
    await createQr(merchant.client); // never simulated: not listed
    const foreign = await createQr(stranger.client);
    await merchant.client.post(`/api/simulation/${active.qrId}/start`);
    await setGenerated(finished.qrId, 4);
    await stranger.client.post(`/api/simulation/${foreign.qrId}/start`);

    const expected = [
      { qrId: active.qrId, simulationActive: true, generated: 0, nextRunAt: at(INTERVAL_MS) },
      { qrId: finished.qrId, simulationActive: false, generated: 4, nextRunAt: null },
    ].sort((a, b) => a.qrId.localeCompare(b.qrId));
    const own = await merchant.client.get('/api/v1/simulation/status');
    expect(own.json()).toEqual({ success: true, data: { activeCount: 1, simulations: expected } });

    const all = (await admin.client.get('/api/simulation/status')).json().data;
    const activeInDb = await testApp.database.handle.db
      .selectFrom('qrCodes')
      .select('qrId')
      .where('simulationActive', '=', true)
      .execute();
    expect(all.activeCount).toBe(activeInDb.length);
    expect(all.activeCount).toBeGreaterThanOrEqual(2);
    expect(all.simulations).toEqual(
      expect.arrayContaining([
        ...expected,
        expect.objectContaining({ qrId: foreign.qrId, simulationActive: true }),
      ]),
    );
    const listed = all.simulations.map((simulation: { qrId: string }) => simulation.qrId);
    expect(listed).toEqual([...listed].sort());
  });

  it("stop-all stops the caller's simulations only; an admin's stops every one", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const mine = [await createQr(merchant.client), await createQr(merchant.client)];
    const theirs = await createQr(stranger.client);
    for (const qr of mine) await merchant.client.post(`/api/simulation/${qr.qrId}/start`);
    await stranger.client.post(`/api/simulation/${theirs.qrId}/start`);

    const stopped = await merchant.client.post('/api/simulation/stop-all');
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(stopped.json()).toEqual({ success: true, data: { stopped: 2 }, message: '2 simulations stopped' });
    for (const qr of mine) {
      expect(await rowOf(testApp, qr.qrId)).toMatchObject({
        simulationActive: false,
        simulationNextRunAt: null,
      });
    }
    expect(await rowOf(testApp, theirs.qrId)).toMatchObject({
      simulationActive: true,
      simulationNextRunAt: new Date(at(INTERVAL_MS)),
    });
    expect((await merchant.client.post('/api/simulation/stop-all')).json().data).toEqual({ stopped: 0 });
    expect((await stranger.client.get('/api/simulation/status')).json().data.activeCount).toBe(1);

    await merchant.client.post(`/api/simulation/${mine[0]?.qrId}/start`);
    const byAdmin = await admin.client.post('/api/simulation/stop-all');
    expect(byAdmin.json()).toEqual({ success: true, data: { stopped: 2 }, message: '2 simulations stopped' });
    expect(await rowOf(testApp, theirs.qrId)).toMatchObject({ simulationActive: false });
    expect((await admin.client.get('/api/simulation/status')).json().data.activeCount).toBe(0);
  });
});

describe('runs (runDue on a manual clock)', () => {
  it('adds 1 to 3 simulator payments once the interval has passed, at the run time, then reschedules', async () => {
    const qr = await createQr(owner.client, { maxAmount: 400 });
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const runner = testApp.services.simulationRunner;
    expect(await runner.runDue()).toBe(0);
    clock.advance(INTERVAL_MS - 1);
    expect(await runner.runDue()).toBe(0);
    clock.advance(1);
    const added = await runner.runDue();
    expect([1, 2, 3]).toContain(added);

    const payments = await paymentsOf(testApp, qr.qrId);
    expect(payments).toHaveLength(added);
    for (const payment of payments) {
      expect(payment).toMatchObject({ origin: 'simulator', occurredAt: clock.now(), currency: 'INR' });
      expect(payment.amountMinor <= 40_000n && payment.amountMinor >= 1_000n).toBe(true);
    }
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: true,
      simulationGenerated: added,
      simulationNextRunAt: new Date(at(INTERVAL_MS)),
    });
    // Each payment starts its status history.
    const history = await testApp.database.handle.db
      .selectFrom('qrTransactionStatusHistory')
      .select(['transactionId', 'fromStatus', 'toStatus', 'cause', 'actorId'])
      .where(
        'transactionId',
        'in',
        payments.map((payment) => payment.id),
      )
      .execute();
    expect(history).toHaveLength(added);
    for (const payment of payments) {
      expect(history).toContainEqual({
        transactionId: payment.id,
        fromStatus: null,
        toStatus: payment.status,
        cause: 'simulator',
        actorId: null,
      });
    }
    // Not due again until another interval has passed.
    expect(await runner.runDue()).toBe(0);
    clock.advance(INTERVAL_MS - 1);
    expect(await runner.runDue()).toBe(0);
    const status = (await owner.client.get('/api/simulation/status')).json().data.simulations;
    expect(status).toContainEqual({
      qrId: qr.qrId,
      simulationActive: true,
      generated: added,
      nextRunAt: at(1),
    });
  });

  it('stops by itself at exactly MAX_TRANSACTIONS_PER_QR simulated payments', async () => {
    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const runs: number[] = [];
    while ((await rowOf(testApp, qr.qrId))?.simulationActive === true && runs.length < 2 * CAP) {
      runs.push(await nextRun());
    }
    expect(runs.reduce((sum, run) => sum + run, 0)).toBe(CAP);
    expect(runs.filter((run) => run < 1 || run > 3)).toEqual([]);
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: false,
      simulationGenerated: CAP,
      simulationNextRunAt: null,
    });
    expect(await nextRun()).toBe(0);
    const payments = await paymentsOf(testApp, qr.qrId);
    expect(payments).toHaveLength(CAP);
    expect(payments.filter((payment) => payment.origin !== 'simulator')).toEqual([]);
    expect(runsOf(payments).map((run) => run.size)).toEqual(runs);

    expectError(await owner.client.post(`/api/simulation/${qr.qrId}/start`), 409, 'SIMULATION_LIMIT_REACHED');
    const status = (await owner.client.get('/api/simulation/status')).json().data.simulations;
    expect(status).toContainEqual({
      qrId: qr.qrId,
      simulationActive: false,
      generated: CAP,
      nextRunAt: null,
    });
  });

  it('makes only as many payments as fit in the last run (3 drawn, 1 left: 3, 3, 3, 1)', async () => {
    forcedDraw = 0.999; // every run draws 3 payments
    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const runs = [await nextRun(), await nextRun(), await nextRun(), await nextRun(), await nextRun()];
    expect(runs).toEqual([3, 3, 3, 1, 0]);
    expect(await paymentsOf(testApp, qr.qrId)).toHaveLength(CAP);
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      simulationActive: false,
      simulationGenerated: CAP,
    });
  });

  it('counts only its own payments towards the cap: manual and /transactions/simulate ones do not', async () => {
    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const manual = await owner.client.post('/api/transactions', { qrId: qr.qrId, amount: 120.5 });
    expect(manual.statusCode, manual.body).toBe(201);
    const simulate = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count: 4 });
    expect(simulate.statusCode, simulate.body).toBe(201);
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({ simulationGenerated: 0, simulationActive: true });

    // A code at the cap still takes /transactions/simulate payments.
    await setGenerated(qr.qrId, CAP);
    await owner.client.post(`/api/simulation/${qr.qrId}/stop`);
    const more = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count: 5 });
    expect(more.statusCode, more.body).toBe(201);
    expect(more.json().data.count).toBe(5);
    const origins = (await paymentsOf(testApp, qr.qrId)).map((payment) => payment.origin).sort();
    expect(origins).toEqual(['manual', ...Array(9).fill('simulate_request')]);
  });

  it('stops when the code is made Inactive (status route or update) and adds nothing after', async () => {
    const viaStatus = await createQr(owner.client);
    const viaUpdate = await createQr(owner.client);
    for (const qr of [viaStatus, viaUpdate]) await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const first = await nextRun();
    expect(first).toBeGreaterThanOrEqual(2);

    const status = await owner.client.post(`/api/qr/${viaStatus.id}/status`, { status: 'Inactive' });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json().data.qrCode).toMatchObject({ status: 'Inactive', simulationActive: false });
    const update = await owner.client.put(`/api/qr/${viaUpdate.id}`, { status: 'Inactive' });
    expect(update.statusCode, update.body).toBe(200);
    expect(update.json().data.qrCode).toMatchObject({ status: 'Inactive', simulationActive: false });
    const counts = [
      (await paymentsOf(testApp, viaStatus.qrId)).length,
      (await paymentsOf(testApp, viaUpdate.qrId)).length,
    ];

    expect(await nextRun()).toBe(0);
    expect(await nextRun()).toBe(0);
    expect([
      (await paymentsOf(testApp, viaStatus.qrId)).length,
      (await paymentsOf(testApp, viaUpdate.qrId)).length,
    ]).toEqual(counts);
    for (const qr of [viaStatus, viaUpdate]) {
      expect(await rowOf(testApp, qr.qrId)).toMatchObject({
        simulationActive: false,
        simulationNextRunAt: null,
      });
    }
  });

  it('a due code found Inactive when claimed gets no payments and is stopped', async () => {
    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    // A row in this state can only come from outside the service (e.g. a manual SQL fix).
    await testApp.database.handle.db
      .updateTable('qrCodes')
      .set({ status: 'Inactive' })
      .where('qrId', '=', qr.qrId)
      .execute();
    expect(await nextRun()).toBe(0);
    expect(await paymentsOf(testApp, qr.qrId)).toEqual([]);
    expect(await rowOf(testApp, qr.qrId)).toMatchObject({
      status: 'Inactive',
      simulationActive: false,
      simulationGenerated: 0,
      simulationNextRunAt: null,
    });
  });

  it('stops when the code is deleted, with its payments', async () => {
    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const added = await nextRun();
    expect(added).toBeGreaterThanOrEqual(1);
    const deleted = await owner.client.delete(`/api/qr/${qr.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(await nextRun()).toBe(0);
    expect(await rowOf(testApp, qr.qrId)).toBeUndefined();
    expect(await paymentsOf(testApp, qr.qrId)).toEqual([]);
    expect((await owner.client.get('/api/simulation/status')).json().data.simulations).not.toContainEqual(
      expect.objectContaining({ qrId: qr.qrId }),
    );
  });

  it('never exceeds maxAmount, makes valid customers and unique UTRs and payment IDs', async () => {
    const rental = await createQr(owner.client, { category: 'Rental', maxAmount: 100 });
    const education = await createQr(owner.client, { category: 'Education', maxAmount: 1_250.5 });
    const retail = await createQr(owner.client, { category: 'Retail' });
    const codes = [rental, education, retail];
    for (const qr of codes) await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    for (let run = 0; run < CAP; run += 1) await nextRun();
    for (const qr of codes) {
      expect(await rowOf(testApp, qr.qrId)).toMatchObject({
        simulationActive: false,
        simulationGenerated: CAP,
      });
    }

    const limits: [string, bigint, bigint][] = [
      [rental.qrId, 100n, 10_000n],
      [education.qrId, 50_000n, 125_050n],
      [retail.qrId, 1_000n, 500_000n],
    ];
    for (const [qrId, low, high] of limits) {
      const amounts = (await paymentsOf(testApp, qrId)).map((payment) => payment.amountMinor);
      expect(amounts).toHaveLength(CAP);
      expect(amounts.filter((amount) => amount < low || amount > high)).toEqual([]);
    }
    const listed = await owner.client.get(`/api/qr/${rental.id}/transactions?limit=100`);
    expect(listed.statusCode, listed.body).toBe(200);
    const transactions = listed.json().data.transactions;
    expect(transactions).toHaveLength(CAP);
    for (const transaction of transactions) {
      expect(transaction.amount).toBeLessThanOrEqual(100);
      expect(transaction.amount).toBeGreaterThanOrEqual(1);
      expect(transaction).toMatchObject({ origin: 'simulator', qrId: rental.qrId });
      expect(transaction.paymentId).toMatch(/^PAY\d+$/);
      expect(transaction.utr).toMatch(/^[A-Z0-9]{12}$/);
      expect(['Success', 'Failed', 'Pending']).toContain(transaction.status);
      expect(transaction.customerInfo.name).toMatch(/^[A-Z][A-Za-z]+ [A-Z][A-Za-z]+$/);
      expect(transaction.customerInfo.phone).toMatch(/^[6-9]\d{9}$/);
      expect(['GPay', 'PhonePe', 'Paytm', 'BHIM', 'AmazonPay']).toContain(transaction.customerInfo.upiApp);
    }

    const uniqueness = await testApp.database.handle.db
      .selectFrom('qrTransactions')
      .select((eb) => [
        eb.fn.countAll<string>().as('payments'),
        eb.fn.count<string>('utr').distinct().as('utrs'),
        eb.fn.count<string>('paymentId').distinct().as('paymentIds'),
      ])
      .executeTakeFirstOrThrow();
    expect(Number(uniqueness.payments)).toBeGreaterThanOrEqual(3 * CAP);
    expect(uniqueness.utrs).toBe(uniqueness.payments);
    expect(uniqueness.paymentIds).toBe(uniqueness.payments);
  });
});

describe('background runner', () => {
  let fast: TestApp;
  let merchant: Account;
  beforeAll(async () => {
    fast = await createTestApp({ env: fastEnv(CAP), startSimulator: true });
    merchant = await createAccount(fast, 'merchant');
  });
  afterAll(async () => {
    await fast?.close();
  });

  async function start(fields: QrFields = {}) {
    const qr = await createQr(merchant.client, fields);
    const reply = await merchant.client.post(`/api/simulation/${qr.qrId}/start`);
    expect(reply.statusCode, reply.body).toBe(200);
    return qr;
  }

  it('adds runs of 1 to 3 simulator payments an interval apart and stops at exactly the cap', async () => {
    const qr = await start({ category: 'Rental', maxAmount: 100 });
    const row = await waitFor(
      'the simulation to stop',
      () => rowOf(fast, qr.qrId),
      (r) => r?.simulationActive === false,
    );
    expect(row).toMatchObject({ simulationGenerated: CAP, simulationNextRunAt: null });
    const payments = await paymentsOf(fast, qr.qrId);
    expect(payments).toHaveLength(CAP);
    expect(payments.filter((payment) => payment.origin !== 'simulator')).toEqual([]);
    expect(payments.filter((payment) => payment.amountMinor > 10_000n || payment.amountMinor < 100n)).toEqual(
      [],
    );
    const runs = runsOf(payments);
    expect(runs.length).toBeGreaterThanOrEqual(Math.ceil(CAP / 3));
    expectSingleRuns(runs, FAST_INTERVAL_MS);
    // Nothing more comes once it has stopped.
    const sentinel = await start(); // another simulation, to see the runner go on polling meanwhile
    await waitFor(
      'two runs of another code',
      () => paymentsOf(fast, sentinel.qrId),
      (rows) => runsOf(rows).length >= 2,
    );
    expect(await paymentsOf(fast, qr.qrId)).toHaveLength(CAP);
  });

  it('stops a code made Inactive or deleted while it runs', async () => {
    const inactive = await start();
    const deleted = await start();
    const sentinel = await start();
    await waitFor(
      'first payments',
      async () => Promise.all([paymentsOf(fast, inactive.qrId), paymentsOf(fast, deleted.qrId)]),
      ([a, b]) => a.length > 0 && b.length > 0,
    );

    const status = await merchant.client.post(`/api/qr/${inactive.id}/status`);
    expect(status.json().data.qrCode).toMatchObject({ status: 'Inactive', simulationActive: false });
    const removed = await merchant.client.delete(`/api/qr/${deleted.id}`);
    expect(removed.statusCode, removed.body).toBe(200);
    const frozen = (await paymentsOf(fast, inactive.qrId)).length;
    const sentinelRuns = runsOf(await paymentsOf(fast, sentinel.qrId)).length;

    // Two more runs of the sentinel: the runner went on polling meanwhile.
    await waitFor(
      'two more sentinel runs',
      () => paymentsOf(fast, sentinel.qrId),
      (rows) => runsOf(rows).length >= sentinelRuns + 2 || rows.length === CAP,
    );
    expect(await paymentsOf(fast, inactive.qrId)).toHaveLength(frozen);
    expect(await rowOf(fast, inactive.qrId)).toMatchObject({
      simulationActive: false,
      simulationNextRunAt: null,
    });
    expect(await paymentsOf(fast, deleted.qrId)).toEqual([]);
    expect(await rowOf(fast, deleted.qrId)).toBeUndefined();
  });

  it('GET /health reports the simulator: initialized only where the runner was started', async () => {
    const health = await client(fast.app).get('/health');
    expect(health.statusCode, health.body).toBe(200);
    const active = await fast.services.simulations.activeCount();
    expect(health.json().simulator).toEqual({ initialized: true, activeSimulations: active });

    const qr = await createQr(owner.client);
    await owner.client.post(`/api/simulation/${qr.qrId}/start`);
    const idle = await client(testApp.app).get('/health');
    expect(idle.statusCode, idle.body).toBe(200);
    expect(idle.json().simulator).toEqual({ initialized: false, activeSimulations: 1 });
    await owner.client.post(`/api/simulation/${qr.qrId}/stop`);
    expect((await client(testApp.app).get('/health')).json().simulator).toEqual({
      initialized: false,
      activeSimulations: 0,
    });
  });
});

describe('state in the database', () => {
  /** A second pool on the same database, as another server process would have. */
  function secondConnection(database: TestDatabase): TestDatabase {
    const handle = createDatabase({
      connectionString: database.connectionString,
      poolMax: 5,
      statementTimeoutMs: 30_000,
    });
    return { ...database, handle, destroy: () => handle.close() };
  }

  it('resumes an active simulation after a restart and stops it at the cap', async () => {
    const cap = 12;
    const database = await createTestDatabase();
    const later = secondConnection(database);
    try {
      const first = await createTestApp({ database, env: fastEnv(cap), startSimulator: true });
      const merchant = await createAccount(first, 'merchant');
      const qr = await createQr(merchant.client);
      await merchant.client.post(`/api/simulation/${qr.qrId}/start`);
      await waitFor(
        'a first run',
        () => paymentsOf(first, qr.qrId),
        (rows) => rows.length > 0,
      );
      await first.close();

      const beforeRestart = await paymentsOf(first, qr.qrId);
      expect(beforeRestart.length).toBeLessThan(cap);
      expect(await rowOf(first, qr.qrId)).toMatchObject({
        simulationActive: true,
        simulationGenerated: beforeRestart.length,
      });

      const second = await createTestApp({ database: later, env: fastEnv(cap), startSimulator: true });
      try {
        const row = await waitFor(
          'the resumed simulation to stop',
          () => rowOf(second, qr.qrId),
          (r) => r?.simulationActive === false,
        );
        expect(row).toMatchObject({ simulationGenerated: cap, simulationNextRunAt: null });
        const payments = await paymentsOf(second, qr.qrId);
        expect(payments).toHaveLength(cap);
        expect(payments.slice(0, beforeRestart.length).map((payment) => payment.id)).toEqual(
          beforeRestart.map((payment) => payment.id),
        );
        expectSingleRuns(runsOf(payments), FAST_INTERVAL_MS);
      } finally {
        await second.close();
      }
    } finally {
      await later.destroy();
      await database.destroy();
    }
  });

  it('with two instances on one database, every run is made by exactly one of them and the cap holds', async () => {
    const cap = 30;
    const database = await createTestDatabase();
    const other = secondConnection(database);
    // The second instance always draws 0.999: 3 payments a run, each with the phone 9999999999.
    const first = await createTestApp({
      database,
      env: fastEnv(cap),
      startSimulator: true,
      random: seededRandom(1),
    });
    const second = await createTestApp({
      database: other,
      env: fastEnv(cap),
      startSimulator: true,
      random: () => 0.999,
    });
    try {
      const merchant = await createAccount(first, 'merchant');
      const codes = [await createQr(merchant.client), await createQr(merchant.client)];
      for (const qr of codes) await merchant.client.post(`/api/simulation/${qr.qrId}/start`);
      await waitFor(
        'both simulations to stop',
        () => Promise.all(codes.map((qr) => rowOf(first, qr.qrId))),
        (rows) => rows.every((row) => row?.simulationActive === false),
      );

      const runsBy = { first: 0, second: 0 };
      for (const qr of codes) {
        expect(await rowOf(second, qr.qrId)).toMatchObject({
          simulationGenerated: cap,
          simulationNextRunAt: null,
        });
        const payments = await paymentsOf(first, qr.qrId);
        expect(payments).toHaveLength(cap);
        const runs = runsOf(payments);
        expectSingleRuns(runs, FAST_INTERVAL_MS);
        // A run is one instance's: its payments all come from the same random source.
        for (const run of runs) {
          const phones = payments
            .filter((payment) => payment.occurredAt.getTime() === run.at)
            .map((payment) => payment.customerPhone);
          const fromSecond = phones.filter((phone) => phone === '9999999999').length;
          expect([0, phones.length]).toContain(fromSecond);
          runsBy[fromSecond > 0 ? 'second' : 'first'] += 1;
        }
      }
      const total = await first.database.handle.db
        .selectFrom('qrTransactions')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('origin', '=', 'simulator')
        .executeTakeFirstOrThrow();
      expect(Number(total.count)).toBe(2 * cap);
      // Both instances took part (each made several of the 20 to 30 runs in practice).
      expect(runsBy.first).toBeGreaterThan(0);
      expect(runsBy.second).toBeGreaterThan(0);
    } finally {
      await first.close();
      await second.close();
      await other.destroy();
      await database.destroy();
    }
  });
});
