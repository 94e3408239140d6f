import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, client, createAccount, createTestApp, type TestApp } from '../../../test/app.ts';
import { startJobWorkers } from '../../app.ts';
import type { Db } from '../../db/database.ts';
import type { Workers } from '../../jobs/runner.ts';

// Real providers on this host: an SMTP server, a Twilio-like Messages API, a Slack-like webhook
// receiver. The app talks to them through its real channels, from its real job workers.

const ACCOUNT_SID = 'AC1234567890';
const AUTH_TOKEN = 'secret-token';
const SMS_FROM = '+15550001111';
const WHATSAPP_FROM = '+15550002222';
const MESSAGES_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
const BASIC = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;

const key = () => ({ 'idempotency-key': randomUUID() });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds; fails with `what` (and the last value seen) at the deadline. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

// --- SMTP ------------------------------------------------------------------------------------

interface Mail {
  mailFrom: string;
  rcptTo: string[];
  raw: string;
  from: string;
  to: string;
  subject: string;
  text: string;
}

function header(headers: string, name: string): string {
  const match = new RegExp(`^${name}: (.*)$`, 'im').exec(headers);
  return match?.[1]?.trim() ?? '';
}

function parseMail(raw: string, envelope: { mailFrom: string; rcptTo: string[] }): Mail {
  const split = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  let text = raw.slice(split + 4);
  if (/quoted-printable/i.test(header(headers, 'Content-Transfer-Encoding'))) {
    text = text
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
  return {
    ...envelope,
    raw,
    from: header(headers, 'From'),
    to: header(headers, 'To'),
    subject: header(headers, 'Subject'),
    text: text.replace(/\r\n$/, ''),
  };
}

const mails: Mail[] = [];
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const envelope = session.envelope;
      mails.push(
        parseMail(Buffer.concat(chunks).toString('utf8'), {
          mailFrom: envelope.mailFrom === false ? '' : envelope.mailFrom.address,
          rcptTo: envelope.rcptTo.map((rcpt) => rcpt.address),
        }),
      );
      callback();
    });
  },
});
const mailsTo = (email: string) => mails.filter((mail) => mail.rcptTo.includes(email));

// --- Twilio ----------------------------------------------------------------------------------

interface TwilioRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: Record<string, string>;
  status: number;
}

const twilioRequests: TwilioRequest[] = [];
/** How many more requests to a `To` number are refused with a 500. */
const twilioFailures = new Map<string, number>();
let messageCounter = 0;

const twilio = createServer(async (request, response) => {
  const body = await readBody(request);
  const form = Object.fromEntries(new URLSearchParams(body));
  const seen: TwilioRequest = {
    method: request.method ?? '',
    url: request.url ?? '',
    authorization: request.headers.authorization,
    contentType: request.headers['content-type'],
    form,
    status: 0,
  };
  twilioRequests.push(seen);
  const answer = (status: number, json: unknown) => {
    seen.status = status;
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
  };
  if (request.method !== 'POST' || request.url !== MESSAGES_PATH) {
    answer(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    return;
  }
  if (request.headers.authorization !== BASIC) {
    answer(401, { code: 20003, message: 'Authenticate', status: 401 });
    return;
  }
  const failures = twilioFailures.get(form.To ?? '') ?? 0;
  if (failures > 0) {
    twilioFailures.set(form.To ?? '', failures - 1);
    answer(500, { code: 20500, message: 'Internal Server Error', status: 500 });
    return;
  }
  messageCounter += 1;
  answer(201, {
    sid: `SM${String(messageCounter).padStart(32, '0')}`,
    account_sid: ACCOUNT_SID,
    to: form.To,
    from: form.From,
    body: form.Body,
    status: 'queued',
  });
});
const twilioTo = (to: string) => twilioRequests.filter((request) => request.form.To === to);

// --- Slack -----------------------------------------------------------------------------------

interface SlackRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

const slackRequests: SlackRequest[] = [];
const slack = createServer(async (request, response) => {
  const body = await readBody(request);
  slackRequests.push({
    method: request.method ?? '',
    url: request.url ?? '',
    contentType: request.headers['content-type'],
    body,
  });
  response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
});
const slackAt = (path: string) => slackRequests.filter((request) => request.url === path);

// --- The app ---------------------------------------------------------------------------------

let smtpPort: number;
let twilioPort: number;
let slackPort: number;
let slackBase: string;
let testApp: TestApp;
let workers: Workers | undefined;
let admin: Account;

function providerEnv(): Record<string, string> {
  return {
    TWILIO_API_URL: `http://127.0.0.1:${twilioPort}`,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    SMS_FROM,
    WHATSAPP_FROM,
    SLACK_WEBHOOK_BASE_URL: slackBase,
    WORKER_POLL_INTERVAL_MS: '100',
    EVENT_DISPATCH_INTERVAL_MS: '50',
  };
}

beforeAll(async () => {
  smtpPort = await new Promise<number>((resolve) => {
    smtp.listen(0, '127.0.0.1', () => resolve((smtp.server.address() as AddressInfo).port));
  });
  twilioPort = await listen(twilio);
  slackPort = await listen(slack);
  slackBase = `http://127.0.0.1:${slackPort}/`;
  testApp = await createTestApp({
    env: { ...providerEnv(), SMTP_URL: `smtp://127.0.0.1:${smtpPort}` },
  });
  workers = await startJobWorkers(
    { config: testApp.config, database: testApp.database.handle },
    testApp.services,
  );
  admin = await createAccount(testApp, 'admin');
});

afterAll(async () => {
  await workers?.stop();
  await testApp?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await new Promise<void>((resolve) => twilio.close(() => resolve()));
  await new Promise<void>((resolve) => slack.close(() => resolve()));
});

let phoneCounter = 0;
/** A fresh Indian mobile number per user, so each test reads only its own messages. */
function newPhone(): string {
  phoneCounter += 1;
  return `+91980000${String(phoneCounter).padStart(4, '0')}`;
}

/** A Slack webhook path of one user's own (inside the configured base). */
function newSlackPath(): string {
  return `/services/T0000/B0000/${randomUUID().replaceAll('-', '')}`;
}

async function setChannels(account: Account, body: Record<string, unknown>) {
  const reply = await account.client.put('/api/v1/notifications/channels', body);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.channels;
}

async function notify(
  app: TestApp,
  by: Account,
  userId: string,
  title: string,
  body: string,
): Promise<string> {
  const reply = await by.client.post('/api/v1/notifications', { userId, title, body });
  expect(reply.statusCode, reply.body).toBe(201);
  expect(reply.json().data).toEqual({ recipients: 1 });
  const row = await app.database.handle.db
    .selectFrom('notifications')
    .select('id')
    .where('userId', '=', userId)
    .where('title', '=', title)
    .executeTakeFirstOrThrow();
  return row.id;
}

interface JobRow {
  id: string;
  notificationId: string;
  channel: string;
  attempts: number;
  lastError: string | null;
  lockedAt: Date | null;
}

/** The send_notification jobs still in the queue (a job that succeeded is gone). */
async function sendJobs(db: Db, notificationId?: string): Promise<JobRow[]> {
  const { rows } = await sql<JobRow>`
    SELECT j.id::text AS id, j.payload->>'notificationId' AS "notificationId",
      j.payload->>'channel' AS channel, j.attempts, j.last_error AS "lastError",
      j.locked_at AS "lockedAt"
    FROM graphile_worker._private_jobs j
    JOIN graphile_worker._private_tasks t ON t.id = j.task_id
    WHERE t.identifier = 'send_notification'
      AND (${notificationId ?? null}::text IS NULL OR j.payload->>'notificationId' = ${notificationId ?? null}::text)
    ORDER BY j.id`.execute(db);
  return rows;
}

const errorOf = (reply: { json: () => any }) => reply.json().error;

// --- The phone as migrated --------------------------------------------------------------------

describe('a phone number on the schema as migrated', () => {
  // The phone CHECK as migrated (a regular expression written in a JS template literal once lost
  // its backslash and refused every phone): a valid one is stored.
  it('stores a valid E.164 phone and enables SMS', async () => {
    const fresh = await createTestApp({ env: providerEnv() });
    try {
      const user = await createAccount(fresh, 'user');
      const reply = await user.client.put('/api/v1/notifications/channels', {
        phone: '+919876543210',
        sms: true,
      });
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().data.channels).toEqual({
        email: false,
        phone: '+919876543210',
        sms: true,
        whatsapp: false,
        slack: false,
      });
    } finally {
      await fresh.close();
    }
  });
});

// --- 1. Settings -----------------------------------------------------------------------------

describe('channel settings (GET/PUT /api/v1/notifications/channels)', () => {
  it('defaults to nothing, changes only the fields given, validates, never shows the Slack URL, and audits', async () => {
    const user = await createAccount(testApp, 'user');
    const other = await createAccount(testApp, 'user');
    const path = '/api/v1/notifications/channels';
    const defaults = { email: false, phone: null, sms: false, whatsapp: false, slack: false };
    const get = async (account: Account = user) => {
      const reply = await account.client.get(path);
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().success).toBe(true);
      return reply.json().data.channels;
    };
    const refused = async (body: unknown, field?: string) => {
      const reply = await user.client.put(path, body);
      expect(reply.statusCode, reply.body).toBe(400);
      expect(errorOf(reply).code).toBe('VALIDATION_FAILED');
      if (field !== undefined) {
        expect(errorOf(reply).details.map((detail: { field: string }) => detail.field)).toContain(field);
      }
    };

    expect(await get()).toEqual(defaults);
    expect((await client(testApp.app).get(path)).statusCode).toBe(401);
    expect((await client(testApp.app).put(path, { email: true })).statusCode).toBe(401);

    expect(await setChannels(user, { email: true })).toEqual({ ...defaults, email: true });
    expect(await get()).toEqual({ ...defaults, email: true });

    // SMS and WhatsApp need a phone.
    await refused({ sms: true }, 'phone');
    await refused({ whatsapp: true }, 'phone');
    expect(await get()).toEqual({ ...defaults, email: true });

    const withPhone = { ...defaults, email: true, phone: '+919876543210', sms: true, whatsapp: true };
    expect(await setChannels(user, { phone: '+919876543210', sms: true, whatsapp: true })).toEqual(withPhone);
    expect(await get()).toEqual(withPhone);

    // Not E.164.
    await refused({ phone: '9876543210' }, 'phone');
    await refused({ phone: '+09876543210' }, 'phone');
    await refused({ phone: '+91 98765 43210' }, 'phone');
    await refused({ phone: '+1234567890123456' }, 'phone');
    // Removing the phone while SMS/WhatsApp are on.
    await refused({ phone: null }, 'phone');
    expect(await get()).toEqual(withPhone);

    // Slack: inside the configured base only; the URL is never shown.
    await refused({ slackWebhookUrl: 'https://hooks.slack.com/services/T0/B0/x' }, 'slackWebhookUrl');
    await refused({ slackWebhookUrl: `http://127.0.0.1:${slackPort}0/services/x` }, 'slackWebhookUrl');
    await refused({ slackWebhookUrl: 'not a url' }, 'slackWebhookUrl');
    await refused({ slackWebhookUrl: '' }, 'slackWebhookUrl');
    expect(await get()).toEqual(withPhone);
    const slackUrl = `${slackBase}services/T0000/B0000/settingsSecret123`;
    const slackReply = await user.client.put(path, { slackWebhookUrl: slackUrl });
    expect(slackReply.statusCode, slackReply.body).toBe(200);
    expect(slackReply.json().data.channels).toEqual({ ...withPhone, slack: true });
    expect(slackReply.body).not.toContain('settingsSecret123');
    const got = await user.client.get(path);
    expect(got.json().data.channels).toEqual({ ...withPhone, slack: true });
    expect(got.body).not.toContain('settingsSecret123');
    const stored = await testApp.database.handle.db
      .selectFrom('notificationChannels')
      .select('slackWebhookUrl')
      .where('userId', '=', user.user.id)
      .executeTakeFirstOrThrow();
    expect(stored.slackWebhookUrl).toBe(slackUrl);

    // Null clears, the rest kept.
    expect(await setChannels(user, { slackWebhookUrl: null })).toEqual(withPhone);

    // Bad bodies.
    await refused({ email: true, extra: 1 });
    await refused({});
    await refused({ email: 'yes' });
    await refused({ sms: 1 });

    // Everything off and the phone removed in one call.
    expect(await setChannels(user, { sms: false, whatsapp: false, phone: null, email: false })).toEqual(
      defaults,
    );

    // Another user's settings untouched.
    expect(await get(other)).toEqual(defaults);

    // One audit row per change that was saved (five), none for the refusals.
    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'notification.channels_updated')
      .where('targetId', '=', user.user.id)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
    expect(audit).toHaveLength(5);
    for (const row of audit) expect(row).toMatchObject({ actorId: user.user.id, targetType: 'user' });
    expect(audit.map((row) => row.details)).toEqual([
      { email: true, sms: false, whatsapp: false, slack: false },
      { email: true, sms: true, whatsapp: true, slack: false },
      { email: true, sms: true, whatsapp: true, slack: true },
      { email: true, sms: true, whatsapp: true, slack: false },
      { email: false, sms: false, whatsapp: false, slack: false },
    ]);
    expect(JSON.stringify(audit)).not.toContain('settingsSecret123');
  });
});

// --- 2. and 3. Delivery ----------------------------------------------------------------------

describe('delivery through the providers', () => {
  it('sends an admin notification by email, SMS, WhatsApp and Slack to a user with all four, and nothing for a user with none', async () => {
    const user = await createAccount(testApp, 'user');
    const nobody = await createAccount(testApp, 'user');
    const slackPath = newSlackPath();
    expect(
      await setChannels(user, {
        email: true,
        phone: '+919876543210',
        sms: true,
        whatsapp: true,
        slackWebhookUrl: `${slackBase}${slackPath.slice(1)}`,
      }),
    ).toEqual({ email: true, phone: '+919876543210', sms: true, whatsapp: true, slack: true });
    const before = { mails: mails.length, twilio: twilioRequests.length, slack: slackRequests.length };

    // The user with no channels first: it must add nothing anywhere.
    const silentId = await notify(testApp, admin, nobody.user.id, 'Quiet notice', 'Only in the app.');
    expect(await sendJobs(testApp.database.handle.db, silentId)).toEqual([]);

    const title = 'Scheduled maintenance';
    const body = 'Payments pause at 02:00 UTC for ten minutes.';
    await notify(testApp, admin, user.user.id, title, body);

    await eventually(
      'an email, an SMS, a WhatsApp message and a Slack message',
      () =>
        mailsTo(user.user.email).length === 1 &&
        twilioTo('+919876543210').length === 1 &&
        twilioTo('whatsapp:+919876543210').length === 1 &&
        slackAt(slackPath).length === 1,
    );

    const [mail] = mailsTo(user.user.email);
    expect(mail).toMatchObject({
      mailFrom: 'no-reply@tijori.local',
      rcptTo: [user.user.email],
      subject: title,
      text: body,
    });
    expect(mail?.from).toContain('no-reply@tijori.local');
    expect(mail?.to).toContain(user.user.email);

    const [sms] = twilioTo('+919876543210');
    expect(sms).toEqual({
      method: 'POST',
      url: MESSAGES_PATH,
      authorization: BASIC,
      contentType: 'application/x-www-form-urlencoded',
      form: { To: '+919876543210', From: SMS_FROM, Body: `${title}\n${body}` },
      status: 201,
    });
    const [whatsapp] = twilioTo('whatsapp:+919876543210');
    expect(whatsapp).toEqual({
      method: 'POST',
      url: MESSAGES_PATH,
      authorization: BASIC,
      contentType: 'application/x-www-form-urlencoded',
      form: { To: 'whatsapp:+919876543210', From: `whatsapp:${WHATSAPP_FROM}`, Body: `${title}\n${body}` },
      status: 201,
    });

    const [slackMessage] = slackAt(slackPath);
    expect(slackMessage?.method).toBe('POST');
    expect(slackMessage?.contentType).toBe('application/json');
    const payload = JSON.parse(slackMessage?.body ?? '{}');
    expect(Object.keys(payload)).toEqual(['text']);
    expect(payload.text).toContain(title);
    expect(payload.text).toContain(body);

    // Every job done and gone; exactly these four reached the providers, none for the silent user.
    await eventually('the jobs done', async () => (await sendJobs(testApp.database.handle.db)).length === 0);
    await sleep(300);
    expect(mails.length - before.mails).toBe(1);
    expect(twilioRequests.length - before.twilio).toBe(2);
    expect(slackRequests.length - before.slack).toBe(1);
    expect(mailsTo(nobody.user.email)).toHaveLength(0);
  });

  it('uses only the channels the user enabled: Slack only', async () => {
    const user = await createAccount(testApp, 'user');
    const phone = newPhone();
    const slackPath = newSlackPath();
    // A phone is set but SMS and WhatsApp are off; email off.
    await setChannels(user, { phone, slackWebhookUrl: `${slackBase}${slackPath.slice(1)}` });
    const before = { mails: mails.length, twilio: twilioRequests.length, slack: slackRequests.length };

    const id = await notify(testApp, admin, user.user.id, 'Slack only', 'Just Slack, please.');
    await eventually('the Slack message', () => slackAt(slackPath).length === 1);
    await eventually('the jobs done', async () => (await sendJobs(testApp.database.handle.db)).length === 0);
    await sleep(300);

    expect(JSON.parse(slackAt(slackPath)[0]?.body ?? '{}').text).toContain('Slack only');
    expect(mails.length - before.mails).toBe(0);
    expect(twilioRequests.length - before.twilio).toBe(0);
    expect(slackRequests.length - before.slack).toBe(1);
    expect(mailsTo(user.user.email)).toHaveLength(0);
    expect(twilioTo(phone)).toHaveLength(0);
    expect(twilioTo(`whatsapp:${phone}`)).toHaveLength(0);
    expect(await sendJobs(testApp.database.handle.db, id)).toEqual([]);
  });
});

// --- 4. Retry --------------------------------------------------------------------------------

describe('a provider failing', () => {
  it('retries only the failed channel: the SMS arrives on the third try, the email is sent once', async () => {
    const db = testApp.database.handle.db;
    const user = await createAccount(testApp, 'user');
    const phone = newPhone();
    await setChannels(user, { email: true, phone, sms: true });
    twilioFailures.set(phone, 2);

    const id = await notify(
      testApp,
      admin,
      user.user.id,
      'Payout sent',
      'Your payout of 120.50 INR is on its way.',
    );
    await eventually('the email', () => mailsTo(user.user.email).length === 1);

    for (const attempt of [1, 2]) {
      let job: JobRow | undefined;
      await eventually(`the SMS job failed ${attempt} time(s)`, async () => {
        [job] = await sendJobs(db, id);
        return (
          job !== undefined && job.attempts === attempt && job.lockedAt === null && job.lastError !== null
        );
      });
      expect(job).toMatchObject({ notificationId: id, channel: 'sms', attempts: attempt });
      expect(job?.lastError).toContain('sms provider answered 500');
      // Only the SMS job is left: the email one succeeded and is gone.
      expect((await sendJobs(db, id)).map((row) => row.channel)).toEqual(['sms']);
      expect(twilioTo(phone).map((request) => request.status)).toEqual(attempt === 1 ? [500] : [500, 500]);
      // The backoff (e^attempts seconds) is over now.
      const { numAffectedRows } = await sql`
        UPDATE graphile_worker._private_jobs SET run_at = now() WHERE id = ${job?.id}::bigint`.execute(db);
      expect(numAffectedRows).toBe(1n);
    }

    await eventually('the SMS accepted', () => twilioTo(phone).some((request) => request.status === 201));
    await eventually('the SMS job done', async () => (await sendJobs(db, id)).length === 0);
    await sleep(300);
    expect(twilioTo(phone).map((request) => request.status)).toEqual([500, 500, 201]);
    for (const request of twilioTo(phone)) {
      expect(request.form).toEqual({
        To: phone,
        From: SMS_FROM,
        Body: 'Payout sent\nYour payout of 120.50 INR is on its way.',
      });
    }
    expect(mailsTo(user.user.email)).toHaveLength(1);
  });
});

// --- 6. Events -------------------------------------------------------------------------------

describe('notifications from events', () => {
  it('sends the low-balance notification to Slack once the workers dispatch the event', async () => {
    const owner = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    const slackPath = newSlackPath();
    await setChannels(owner, { slackWebhookUrl: `${slackBase}${slackPath.slice(1)}` });
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 500, reference: 'lb1' }, key()))
        .statusCode,
    ).toBe(201);
    expect(
      (await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 100 })).statusCode,
    ).toBe(200);
    const transfer = await owner.client.post(
      '/api/v1/wallet/transfer',
      { to: payee.user.id, amount: 450 },
      key(),
    );
    expect(transfer.statusCode, transfer.body).toBe(201);

    await eventually('the Slack message', () => slackAt(slackPath).length === 1);
    const text = JSON.parse(slackAt(slackPath)[0]?.body ?? '{}').text as string;
    expect(text).toContain('Low balance');
    expect(text).toContain("Your INR wallet's available balance fell below your threshold.");
    await eventually('the jobs done', async () => (await sendJobs(testApp.database.handle.db)).length === 0);
    await sleep(300);
    expect(slackAt(slackPath)).toHaveLength(1);
    const rows = await testApp.database.handle.db
      .selectFrom('notifications')
      .select(['kind', 'title'])
      .where('userId', '=', owner.user.id)
      .execute();
    expect(rows).toEqual([{ kind: 'wallet.low_balance', title: 'Low balance' }]);
  });
});

// --- 5. Only configured channels -------------------------------------------------------------

describe('an installation without SMTP and without a WhatsApp sender', () => {
  let bare: TestApp;
  let bareAdmin: Account;

  beforeAll(async () => {
    // Its own database, no workers: the queued jobs stay to be read.
    const { WHATSAPP_FROM: _unused, ...env } = providerEnv();
    bare = await createTestApp({ env });
    bareAdmin = await createAccount(bare, 'admin');
  });
  afterAll(async () => {
    await bare?.close();
  });

  it('queues jobs only for the configured channels (no email, no WhatsApp)', async () => {
    expect(bare.config.smtpUrl).toBeUndefined();
    expect(bare.config.whatsappFrom).toBeUndefined();
    const user = await createAccount(bare, 'user');
    const phone = newPhone();
    // The user may still choose them; they are simply not served here.
    await setChannels(user, {
      email: true,
      phone,
      sms: true,
      whatsapp: true,
      slackWebhookUrl: `${slackBase}${newSlackPath().slice(1)}`,
    });
    const id = await notify(bare, bareAdmin, user.user.id, 'Configured only', 'Through SMS and Slack.');
    const jobs = await sendJobs(bare.database.handle.db, id);
    expect(jobs.map((job) => job.channel).sort()).toEqual(['slack', 'sms']);
    expect(jobs.every((job) => job.attempts === 0)).toBe(true);

    // A user with only email enabled: no job at all.
    const emailOnly = await createAccount(bare, 'user');
    await setChannels(emailOnly, { email: true });
    const emailId = await notify(bare, bareAdmin, emailOnly.user.id, 'Email only', 'Nowhere to go.');
    expect(await sendJobs(bare.database.handle.db, emailId)).toEqual([]);
    // And nothing for email anywhere in this queue.
    expect((await sendJobs(bare.database.handle.db)).filter((job) => job.channel === 'email')).toEqual([]);
    expect(mailsTo(user.user.email)).toHaveLength(0);
  });

  // The job is queued with the notification; a user who turns a channel off before it runs (or
  // while a failing provider is being retried) must not get it, though the phone and the account
  // email are still there.
  it('does not send through a channel the user switched off after the job was queued', async () => {
    const db = bare.database.handle.db;
    const user = await createAccount(bare, 'user');
    const phone = newPhone();
    const slackPath = newSlackPath();
    await setChannels(user, { phone, sms: true, slackWebhookUrl: `${slackBase}${slackPath.slice(1)}` });
    const id = await notify(bare, bareAdmin, user.user.id, 'Switched off', 'Should not be sent.');
    expect((await sendJobs(db, id)).map((job) => job.channel).sort()).toEqual(['slack', 'sms']);
    // Both channels off before any worker runs (the phone is kept, as the API allows).
    expect(await setChannels(user, { sms: false, slackWebhookUrl: null })).toEqual({
      email: false,
      phone,
      sms: false,
      whatsapp: false,
      slack: false,
    });

    const bareWorkers = await startJobWorkers(
      { config: bare.config, database: bare.database.handle },
      bare.services,
    );
    try {
      await eventually('the jobs done', async () => (await sendJobs(db, id)).length === 0);
      await sleep(300);
    } finally {
      await bareWorkers.stop();
    }
    expect(slackAt(slackPath)).toHaveLength(0); // the cleared URL: nothing sent
    expect(twilioTo(phone)).toHaveLength(0); // SMS switched off: nothing should be sent
  });
});
