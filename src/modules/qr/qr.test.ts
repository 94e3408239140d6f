import { randomUUID } from 'node:crypto';
import jsQRImport from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  expectTenantIsolation,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';

// jsqr is a CommonJS bundle whose module.exports is `{ default: jsQR }`.
const jsQR = ((jsQRImport as unknown as { default?: typeof jsQRImport }).default ??
  jsQRImport) as unknown as (
  data: Uint8ClampedArray,
  width: number,
  height: number,
) => { data: string } | null;

const HOUR_MS = 3_600_000;
const QR_ID_PATTERN = /^[A-Z0-9]{5}$/;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let testApp: TestApp;
let admin: Account;
let merchant: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
  merchant = await createAccount(testApp, 'merchant', 'Corner Shop Pvt Ltd');
});
afterAll(async () => {
  await testApp?.close();
});

const db = () => testApp.database.handle.db;

let qrIdCounter = 0;
/** A qrId no other test in this file uses (Q + four base-36 digits). */
function freshQrId(): string {
  qrIdCounter += 1;
  return `Q${qrIdCounter.toString(36).toUpperCase().padStart(4, '0')}`;
}

const BASE_BODY = { vpa: 'shop@okaxis', referenceName: 'Corner Shop' } as const;

interface QrCodeJson {
  id: string;
  qrId: string;
  merchantId: string;
  vpa: string;
  referenceName: string;
  description: string | null;
  maxAmount: number;
  category: string;
  notes: string | null;
  status: string;
  simulationActive: boolean;
  upiLink: string;
  createdAt: string;
  updatedAt: string;
}

async function createQr(owner: Account, body: Record<string, unknown> = {}): Promise<QrCodeJson> {
  const reply = await owner.client.post('/api/qr', { ...BASE_BODY, qrId: freshQrId(), ...body });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

interface PaymentJson {
  id: string;
  paymentId: string;
  qrId: string;
  amount: number;
  status: string;
  timestamp: string;
}

async function pay(
  owner: Account,
  qrId: string,
  amount: number,
  status: 'Success' | 'Failed' | 'Pending',
  timestamp: Date,
): Promise<PaymentJson> {
  const reply = await owner.client.post('/api/transactions', {
    qrId,
    amount,
    status,
    timestamp: timestamp.toISOString(),
  });
  expect(reply.statusCode, reply.body).toBe(201);
  const transaction = reply.json().data.transaction;
  expect(transaction).toMatchObject({ qrId, amount, status, timestamp: timestamp.toISOString() });
  return transaction;
}

const hoursAgo = (hours: number) => new Date(Date.now() - hours * HOUR_MS);

/**
 * A 400 VALIDATION_FAILED whose first detail names `field` and whose every detail names `field`.
 */
function expectFieldError(reply: Reply, field: string, label = field): void {
  expect(reply.statusCode, `${label}: ${reply.body}`).toBe(400);
  expectError(reply, 400, 'VALIDATION_FAILED');
  const details: { field: string; message: string }[] = reply.json().error.details;
  expect(details[0]?.field, label).toBe(field);
  for (const detail of details) expect(detail.field, label).toBe(field);
}

async function qrRow(id: string) {
  return db().selectFrom('qrCodes').selectAll().where('id', '=', id).executeTakeFirst();
}

async function countQrCodes(): Promise<number> {
  const row = await db()
    .selectFrom('qrCodes')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

function queryOf(link: string): URLSearchParams {
  expect(link.startsWith('upi://pay?')).toBe(true);
  return new URLSearchParams(link.slice('upi://pay?'.length));
}

function decodePng(buffer: Buffer): { width: number; height: number; text: string } {
  const png = PNG.sync.read(buffer);
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  expect(decoded, 'the PNG holds a readable QR code').not.toBeNull();
  return { width: png.width, height: png.height, text: decoded?.data ?? '' };
}

/**
 * Rasterizes the SVG the `qrcode` package writes (one stroked path of `M x y`, `m dx dy` and
 * `h n` commands, each `h` a run of dark modules) and decodes it like a scanner would.
 */
function decodeSvg(svg: string): string {
  const viewBox = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  const path = /<path stroke="#000000" d="([^"]+)"/.exec(svg);
  expect(viewBox, 'SVG viewBox').not.toBeNull();
  expect(path, 'SVG dark-module path').not.toBeNull();
  const modules = Number(viewBox?.[1]);
  const dark = Array.from({ length: modules }, () => new Array<boolean>(modules).fill(false));
  let x = 0;
  let y = 0;
  for (const [, command, args = ''] of (path?.[1] ?? '').matchAll(/([A-Za-z])([^A-Za-z]*)/g)) {
    const numbers = args
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    const [a = 0, b = 0] = numbers;
    if (command === 'M') [x, y] = [a, b];
    else if (command === 'm') [x, y] = [x + a, y + b];
    else if (command === 'h') {
      for (let i = 0; i < a; i += 1) {
        const row = dark[Math.floor(y)];
        if (row !== undefined) row[x + i] = true;
      }
      x += a;
    } else throw new Error(`unexpected SVG path command ${command}`);
  }
  const scale = 8;
  const size = modules * scale;
  const pixels = new Uint8ClampedArray(size * size * 4);
  for (let py = 0; py < size; py += 1) {
    for (let px = 0; px < size; px += 1) {
      const value = dark[Math.floor(py / scale)]?.[Math.floor(px / scale)] === true ? 0 : 255;
      const offset = (py * size + px) * 4;
      pixels[offset] = value;
      pixels[offset + 1] = value;
      pixels[offset + 2] = value;
      pixels[offset + 3] = 255;
    }
  }
  const decoded = jsQR(pixels, size, size);
  expect(decoded, 'the SVG holds a readable QR code').not.toBeNull();
  return decoded?.data ?? '';
}

describe('POST /api/qr', () => {
  it('creates a QR code with defaults and answers 201 with the documented message', async () => {
    const qrId = freshQrId();
    const reply = await merchant.client.post('/api/qr', { qrId, ...BASE_BODY });
    expect(reply.statusCode, reply.body).toBe(201);
    const body = reply.json();
    expect(body.success).toBe(true);
    expect(body.message).toBe('QR Code created successfully');
    const qrCode = body.data.qrCode;
    expect(qrCode).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      qrId,
      merchantId: merchant.user.merchantId,
      vpa: 'shop@okaxis',
      referenceName: 'Corner Shop',
      description: null,
      maxAmount: 0,
      category: 'Custom',
      notes: null,
      status: 'Active',
      simulationActive: false,
      upiLink: `upi://pay?pa=shop@okaxis&pn=Corner%20Shop&tr=${qrId}&cu=INR`,
      createdAt: expect.stringMatching(ISO_PATTERN),
      updatedAt: qrCode.createdAt,
    });
    const row = await qrRow(qrCode.id);
    expect(row).toMatchObject({
      qrId,
      merchantId: merchant.user.merchantId,
      maxAmountMinor: 0n,
      category: 'Custom',
      status: 'Active',
      simulationActive: false,
      simulationGenerated: 0,
    });
  });

  it('generates a 5-character A-Z0-9 qrId when none is given, a different one each time', async () => {
    const first = await merchant.client.post('/api/qr', BASE_BODY);
    const second = await merchant.client.post('/api/qr', BASE_BODY);
    expect(first.statusCode, first.body).toBe(201);
    expect(second.statusCode, second.body).toBe(201);
    expect(first.json().data.qrCode.qrId).toMatch(QR_ID_PATTERN);
    expect(second.json().data.qrCode.qrId).toMatch(QR_ID_PATTERN);
    expect(first.json().data.qrCode.qrId).not.toBe(second.json().data.qrCode.qrId);
  });

  it('stores every given field, trimmed, and keeps maxAmount in paise', async () => {
    const qrId = freshQrId();
    const reply = await merchant.client.post('/api/qr', {
      qrId: `  ${qrId} `,
      vpa: '  ravi.stores@okicici\t',
      referenceName: '   Ravi General Stores  ',
      description: '  Groceries  ',
      maxAmount: 2500.5,
      category: 'Retail',
      notes: '\n counter 2 \n',
      status: 'Inactive',
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const qrCode = reply.json().data.qrCode;
    expect(qrCode).toMatchObject({
      qrId,
      vpa: 'ravi.stores@okicici',
      referenceName: 'Ravi General Stores',
      description: 'Groceries',
      maxAmount: 2500.5,
      category: 'Retail',
      notes: 'counter 2',
      status: 'Inactive',
      simulationActive: false,
    });
    expect(await qrRow(qrCode.id)).toMatchObject({
      qrId,
      vpa: 'ravi.stores@okicici',
      referenceName: 'Ravi General Stores',
      description: 'Groceries',
      maxAmountMinor: 250050n,
      notes: 'counter 2',
    });
  });

  it('can start with simulationActive true, but not on an Inactive code (409 QR_INACTIVE)', async () => {
    const active = await createQr(merchant, { simulationActive: true });
    expect(active.simulationActive).toBe(true);
    expect((await qrRow(active.id))?.simulationActive).toBe(true);
    await merchant.client.post(`/api/qr/${active.id}/simulation`); // stop it again

    const before = await countQrCodes();
    const qrId = freshQrId();
    const reply = await merchant.client.post('/api/qr', {
      ...BASE_BODY,
      qrId,
      status: 'Inactive',
      simulationActive: true,
    });
    expectError(reply, 409, 'QR_INACTIVE');
    expect(await countQrCodes()).toBe(before);
  });

  it('refuses a qrId that is not exactly 5 characters A-Z0-9', async () => {
    const before = await countQrCodes();
    for (const qrId of ['abcde', 'AbCDE', 'ABCD', 'ABCDEF', 'AB-12', 'AB 12', '', '     ', 12345]) {
      const reply = await merchant.client.post('/api/qr', { ...BASE_BODY, qrId });
      expectFieldError(reply, 'qrId', `qrId ${JSON.stringify(qrId)}`);
    }
    expect(await countQrCodes()).toBe(before);
  });

  it('applies the VPA pattern, including its length bounds', async () => {
    const refused = [
      'shopokaxis', // no @
      'shop@ok', // handle shorter than 3
      'shop@1kaxis', // handle starts with a digit
      'shop@ok axis',
      's@okaxis', // local part shorter than 2
      `${'a'.repeat(257)}@okaxis`,
      `shop@o${'k'.repeat(65)}`, // handle of 66
      'shop@@okaxis',
      'sh op@okaxis',
      'shop#1@okaxis',
      '',
    ];
    for (const vpa of refused) {
      const reply = await merchant.client.post('/api/qr', { ...BASE_BODY, vpa });
      expectFieldError(reply, 'vpa', `vpa ${vpa}`);
    }
    const accepted = [
      `${'a'.repeat(256)}@okaxis`,
      'ab@oka',
      `A.b-c_9@o${'k'.repeat(63)}`, // handle of 64+1
      'shop.name-1_x@ok.axis-bank_2',
    ];
    for (const vpa of accepted) {
      const qrCode = await createQr(merchant, { vpa });
      expect(qrCode.vpa).toBe(vpa);
      expect((await qrRow(qrCode.id))?.vpa).toBe(vpa);
    }
  });

  it('requires referenceName: missing, blank after trimming and over 100 characters are refused', async () => {
    const { referenceName: _omitted, ...withoutName } = BASE_BODY;
    expectFieldError(await merchant.client.post('/api/qr', withoutName), 'referenceName', 'missing');
    for (const referenceName of ['', '   ', '\t\n', 'x'.repeat(101), null, 42]) {
      const reply = await merchant.client.post('/api/qr', { ...BASE_BODY, referenceName });
      expectFieldError(reply, 'referenceName', `referenceName ${JSON.stringify(referenceName)}`);
    }
    const longest = await createQr(merchant, { referenceName: `  ${'N'.repeat(100)}  ` });
    expect(longest.referenceName).toBe('N'.repeat(100));
  });

  it('limits description to 255 and notes to 500 characters (after trimming)', async () => {
    expectFieldError(
      await merchant.client.post('/api/qr', { ...BASE_BODY, description: 'd'.repeat(256) }),
      'description',
    );
    expectFieldError(
      await merchant.client.post('/api/qr', { ...BASE_BODY, notes: 'n'.repeat(501) }),
      'notes',
    );
    const longest = await createQr(merchant, {
      description: ` ${'d'.repeat(255)} `,
      notes: ` ${'n'.repeat(500)} `,
    });
    expect(longest.description).toBe('d'.repeat(255));
    expect(longest.notes).toBe('n'.repeat(500));
    // Blank text is no text.
    const blank = await createQr(merchant, { description: '   ', notes: '' });
    expect(blank).toMatchObject({ description: null, notes: null });
  });

  it('accepts maxAmount 0 or 1..100000 with at most two decimals, and refuses anything else', async () => {
    const refused: unknown[] = [-1, -0.01, 100000.01, 100001, 10.005, 0.5, 0.01, 0.99, '100', null, 1e-7];
    for (const maxAmount of refused) {
      const reply = await merchant.client.post('/api/qr', { ...BASE_BODY, maxAmount });
      expectFieldError(reply, 'maxAmount', `maxAmount ${JSON.stringify(maxAmount)}`);
    }
    const accepted: [number, bigint][] = [
      [0, 0n],
      [1, 100n],
      [99.99, 9999n],
      [250.1, 25010n],
      [100000, 10000000n],
    ];
    for (const [maxAmount, minor] of accepted) {
      const qrCode = await createQr(merchant, { maxAmount });
      expect(qrCode.maxAmount).toBe(maxAmount);
      expect((await qrRow(qrCode.id))?.maxAmountMinor).toBe(minor);
    }
  });

  it('checks category, status, simulationActive and refuses unknown fields', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ category: 'Food' }, 'category'],
      [{ category: 'retail' }, 'category'],
      [{ status: 'Paused' }, 'status'],
      [{ status: 'active' }, 'status'],
      [{ simulationActive: 'yes' }, 'simulationActive'],
      [{ simulationActive: 1 }, 'simulationActive'],
      [{ color: 'red' }, 'color'],
      [{ id: randomUUID() }, 'id'],
      [{ merchantId: 'not-a-uuid' }, 'merchantId'],
    ];
    for (const [extra, field] of cases) {
      const reply = await merchant.client.post('/api/qr', { ...BASE_BODY, ...extra });
      expectFieldError(reply, field, JSON.stringify(extra));
    }
    for (const category of ['Retail', 'Rental', 'Education', 'Custom']) {
      expect((await createQr(merchant, { category })).category).toBe(category);
    }
  });

  it('answers 409 QR_ID_TAKEN for a qrId already used, by anyone', async () => {
    const qrId = freshQrId();
    await createQr(merchant, { qrId });
    expectError(await merchant.client.post('/api/qr', { ...BASE_BODY, qrId }), 409, 'QR_ID_TAKEN');
    const other = await createAccount(testApp, 'merchant');
    expectError(await other.client.post('/api/qr', { ...BASE_BODY, qrId }), 409, 'QR_ID_TAKEN');
    const rows = await db().selectFrom('qrCodes').select('merchantId').where('qrId', '=', qrId).execute();
    expect(rows).toEqual([{ merchantId: merchant.user.merchantId }]);
  });

  it('writes a qr.created audit row naming the actor and the code', async () => {
    const qrCode = await createQr(merchant, { vpa: 'audit.me@okaxis' });
    const rows = await db()
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'qr.created')
      .where('targetId', '=', qrCode.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actorId: merchant.user.id,
      actorRole: 'merchant',
      targetType: 'qr_code',
      details: { qrId: qrCode.qrId, merchantId: merchant.user.merchantId, vpa: 'audit.me@okaxis' },
    });
  });

  it('lets an admin create a code for a merchant, and only by naming an existing merchant', async () => {
    const qrId = freshQrId();
    const created = await admin.client.post('/api/qr', {
      ...BASE_BODY,
      qrId,
      merchantId: merchant.user.merchantId,
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().data.qrCode).toMatchObject({ qrId, merchantId: merchant.user.merchantId });
    // The merchant owns it.
    expect((await merchant.client.get(`/api/qr/${qrId}`)).statusCode).toBe(200);

    expectFieldError(await admin.client.post('/api/qr', BASE_BODY), 'merchantId', 'admin without merchantId');
    expectError(
      await admin.client.post('/api/qr', { ...BASE_BODY, merchantId: randomUUID() }),
      404,
      'NOT_FOUND',
    );
  });

  it('refuses a merchant naming another merchant (400 merchantId) but accepts its own id', async () => {
    const other = await createAccount(testApp, 'merchant');
    const before = await countQrCodes();
    expectFieldError(
      await merchant.client.post('/api/qr', { ...BASE_BODY, merchantId: other.user.merchantId }),
      'merchantId',
    );
    expect(await countQrCodes()).toBe(before);
    const own = await createQr(merchant, { merchantId: merchant.user.merchantId });
    expect(own.merchantId).toBe(merchant.user.merchantId);
  });

  it('answers 401 without credentials and 403 to a user account; API credentials work', async () => {
    const before = await countQrCodes();
    expectError(await client(testApp.app).post('/api/qr', BASE_BODY), 401, 'UNAUTHORIZED');
    const user = await createAccount(testApp, 'user');
    expectError(await user.client.post('/api/qr', BASE_BODY), 403, 'FORBIDDEN');
    expectError(await user.client.get('/api/qr'), 403, 'FORBIDDEN');
    expect(await countQrCodes()).toBe(before);

    const viaKey = await merchant.apiClient!.post('/api/v1/qr', { ...BASE_BODY, qrId: freshQrId() });
    expect(viaKey.statusCode, viaKey.body).toBe(201);
    expect(viaKey.json().data.qrCode.merchantId).toBe(merchant.user.merchantId);
  });
});

describe('GET /api/qr', () => {
  let lister: Account;
  let other: Account;
  /** In creation order. */
  let codes: QrCodeJson[];

  beforeAll(async () => {
    lister = await createAccount(testApp, 'merchant');
    other = await createAccount(testApp, 'merchant');
    codes = [];
    for (const body of [
      {
        vpa: 'ravi.stores@okicici',
        referenceName: 'Ravi General Stores',
        category: 'Retail',
        description: 'Groceries and daily needs',
      },
      { vpa: 'flat12rent@oksbi', referenceName: 'Flat 12 Rent', category: 'Rental', status: 'Inactive' },
      {
        vpa: 'sunrise.school@okhdfcbank',
        referenceName: 'Sunrise School Fees',
        category: 'Education',
        description: 'Term fee 100% payable',
      },
      { vpa: 'misc.payments@okaxis', referenceName: 'Gift_Box counter' },
      {
        vpa: 'cafe.mocha@ybl',
        referenceName: 'Cafe Mocha',
        category: 'Retail',
        status: 'Inactive',
        description: 'Coffee, fifty percent off',
      },
    ]) {
      codes.push(await createQr(lister, body));
      // Distinct creation times, so "newest first" has one right answer.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await createQr(other, { vpa: 'ravi.other@okaxis', referenceName: 'Ravi Other Merchant' });
  });

  const ids = (reply: Reply) => reply.json().data.qrCodes.map((qrCode: QrCodeJson) => qrCode.qrId);
  const qrIdsOf = (...indexes: number[]) => indexes.map((index) => codes[index]?.qrId);

  it("lists the merchant's own codes newest first, with the pagination shape", async () => {
    const reply = await lister.client.get('/api/qr');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().success).toBe(true);
    expect(reply.json().data.pagination).toEqual({ current: 1, total: 1, count: 5, totalRecords: 5 });
    expect(ids(reply)).toEqual(qrIdsOf(4, 3, 2, 1, 0));
    expect(reply.json().data.qrCodes[4]).toEqual(codes[0]);
  });

  it('pages with page and limit', async () => {
    const pages = [];
    for (const page of [1, 2, 3, 4]) {
      const reply = await lister.client.get(`/api/qr?page=${page}&limit=2`);
      expect(reply.statusCode, reply.body).toBe(200);
      pages.push(reply);
    }
    expect(pages.map((reply) => reply.json().data.pagination)).toEqual([
      { current: 1, total: 3, count: 2, totalRecords: 5 },
      { current: 2, total: 3, count: 2, totalRecords: 5 },
      { current: 3, total: 3, count: 1, totalRecords: 5 },
      { current: 4, total: 3, count: 0, totalRecords: 5 },
    ]);
    expect(pages.flatMap(ids)).toEqual(qrIdsOf(4, 3, 2, 1, 0));
    expectFieldError(await lister.client.get('/api/qr?limit=101'), 'limit');
    expectFieldError(await lister.client.get('/api/qr?page=0'), 'page');
  });

  it('filters by category and status, alone and together', async () => {
    const retail = await lister.client.get('/api/qr?category=Retail');
    expect(ids(retail)).toEqual(qrIdsOf(4, 0));
    expect(retail.json().data.pagination.totalRecords).toBe(2);
    expect(ids(await lister.client.get('/api/qr?status=Inactive'))).toEqual(qrIdsOf(4, 1));
    expect(ids(await lister.client.get('/api/qr?status=Active'))).toEqual(qrIdsOf(3, 2, 0));
    expect(ids(await lister.client.get('/api/qr?category=Retail&status=Active'))).toEqual(qrIdsOf(0));
    expect(ids(await lister.client.get('/api/qr?category=Custom'))).toEqual(qrIdsOf(3));
    expectFieldError(await lister.client.get('/api/qr?category=Food'), 'category');
    expectFieldError(await lister.client.get('/api/qr?status=Paused'), 'status');
  });

  it('searches qrId, reference name, VPA and description, case-insensitively', async () => {
    const search = async (text: string) =>
      ids(await lister.client.get(`/api/qr?search=${encodeURIComponent(text)}`));
    expect(await search(codes[2]!.qrId.toLowerCase())).toEqual(qrIdsOf(2));
    expect(await search('rAvI gEnErAl')).toEqual(qrIdsOf(0));
    expect(await search('OKHDFC')).toEqual(qrIdsOf(2));
    expect(await search('groceries')).toEqual(qrIdsOf(0));
    expect(await search('percent')).toEqual(qrIdsOf(4));
    // "ravi" matches the lister's code only: the other merchant's is never searched.
    expect(await search('ravi')).toEqual(qrIdsOf(0));
    const none = await lister.client.get('/api/qr?search=nothing-like-this');
    expect(none.json().data).toEqual({
      qrCodes: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
    });
  });

  it('takes % and _ in a search literally', async () => {
    const search = async (text: string) =>
      ids(await lister.client.get(`/api/qr?search=${encodeURIComponent(text)}`));
    expect(await search('%')).toEqual(qrIdsOf(2));
    expect(await search('100%')).toEqual(qrIdsOf(2));
    expect(await search('_')).toEqual(qrIdsOf(3));
    expect(await search('t_B')).toEqual(qrIdsOf(3));
    expect(await search('Gi%ox')).toEqual([]);
    expect(await search('Fl_t')).toEqual([]);
  });

  it('shows a merchant only its own codes, even when it names another merchant', async () => {
    const own = await other.client.get('/api/qr');
    expect(own.json().data.pagination.totalRecords).toBe(1);
    expect(own.json().data.qrCodes[0].merchantId).toBe(other.user.merchantId);
    const sneaky = await other.client.get(`/api/qr?merchantId=${lister.user.merchantId}`);
    expect(sneaky.statusCode, sneaky.body).toBe(200);
    expect(sneaky.json().data.qrCodes.map((qrCode: QrCodeJson) => qrCode.merchantId)).toEqual([
      other.user.merchantId,
    ]);
  });

  it('shows an admin every code, or one merchant with merchantId', async () => {
    const all = await admin.client.get('/api/qr?limit=100');
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json().data.pagination.totalRecords).toBe(await countQrCodes());
    const merchants = new Set(all.json().data.qrCodes.map((qrCode: QrCodeJson) => qrCode.merchantId));
    expect(merchants.has(lister.user.merchantId)).toBe(true);
    expect(merchants.has(other.user.merchantId)).toBe(true);

    const one = await admin.client.get(`/api/qr?merchantId=${lister.user.merchantId}`);
    expect(ids(one)).toEqual(qrIdsOf(4, 3, 2, 1, 0));
    expect(one.json().data.pagination.totalRecords).toBe(5);
    const filtered = await admin.client.get(`/api/qr?merchantId=${lister.user.merchantId}&search=ravi`);
    expect(ids(filtered)).toEqual(qrIdsOf(0));
  });
});

describe('GET /api/qr/:id', () => {
  it('finds a code by UUID, by qrId and by lower-case qrId, with zero statistics', async () => {
    const qrCode = await createQr(merchant, { description: 'Tea' });
    const zero = {
      totalTransactions: 0,
      successfulTransactions: 0,
      totalAmount: 0,
      successRate: '0.00',
      lastTransactionAt: null,
    };
    for (const key of [qrCode.id, qrCode.qrId, qrCode.qrId.toLowerCase()]) {
      const reply = await merchant.client.get(`/api/qr/${key}`);
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json()).toEqual({ success: true, data: { qrCode, statistics: zero } });
    }
    // An admin reads any merchant's code.
    expect((await admin.client.get(`/api/qr/${qrCode.qrId}`)).json().data.qrCode).toEqual(qrCode);
  });

  it('answers 404 QR_NOT_FOUND for an unknown code', async () => {
    expectError(await merchant.client.get('/api/qr/ZZZZZ'), 404, 'QR_NOT_FOUND');
    expectError(await merchant.client.get(`/api/qr/${randomUUID()}`), 404, 'QR_NOT_FOUND');
    expectError(await admin.client.get('/api/qr/ZZZZZ'), 404, 'QR_NOT_FOUND');
  });

  it('computes statistics from its payments: successful amount only, rate with two decimals', async () => {
    const qrCode = await createQr(merchant);
    const neighbour = await createQr(merchant);
    await pay(merchant, neighbour.qrId, 999, 'Success', hoursAgo(0.1));

    await pay(merchant, qrCode.qrId, 100, 'Success', hoursAgo(5));
    await pay(merchant, qrCode.qrId, 250.5, 'Success', hoursAgo(4));
    await pay(merchant, qrCode.qrId, 49.5, 'Success', hoursAgo(3));
    await pay(merchant, qrCode.qrId, 1000, 'Success', hoursAgo(2));
    const failedAt = hoursAgo(1);
    await pay(merchant, qrCode.qrId, 75, 'Failed', failedAt);
    // Back-filled: older than the newest, so it does not move lastTransactionAt.
    await pay(merchant, qrCode.qrId, 10, 'Failed', hoursAgo(48));
    await pay(merchant, qrCode.qrId, 20, 'Success', hoursAgo(47));
    await pay(merchant, qrCode.qrId, 30, 'Success', hoursAgo(46));
    await pay(merchant, qrCode.qrId, 40, 'Success', hoursAgo(45));

    // 9 payments: 7 Success (100 + 250.50 + 49.50 + 1000 + 20 + 30 + 40 = 1490), 2 Failed.
    const statistics = async () =>
      (await merchant.client.get(`/api/qr/${qrCode.qrId}`)).json().data.statistics;
    expect(await statistics()).toEqual({
      totalTransactions: 9,
      successfulTransactions: 7,
      totalAmount: 1490,
      successRate: '77.78',
      lastTransactionAt: failedAt.toISOString(),
    });

    // A pending payment counts, but its amount is not received.
    const pendingAt = hoursAgo(0.5);
    const pending = await pay(merchant, qrCode.qrId, 300, 'Pending', pendingAt);
    expect(await statistics()).toEqual({
      totalTransactions: 10,
      successfulTransactions: 7,
      totalAmount: 1490,
      successRate: '70.00',
      lastTransactionAt: pendingAt.toISOString(),
    });

    const patched = await merchant.client.patch(`/api/transactions/${pending.paymentId}`, {
      status: 'Success',
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(await statistics()).toEqual({
      totalTransactions: 10,
      successfulTransactions: 8,
      totalAmount: 1790,
      successRate: '80.00',
      lastTransactionAt: pendingAt.toISOString(),
    });
  });

  it('rounds the success rate to two decimals (2 of 3 is "66.67")', async () => {
    const qrCode = await createQr(merchant);
    await pay(merchant, qrCode.qrId, 12.34, 'Success', hoursAgo(3));
    await pay(merchant, qrCode.qrId, 1.99, 'Success', hoursAgo(2));
    await pay(merchant, qrCode.qrId, 5, 'Pending', hoursAgo(1));
    const reply = await merchant.client.get(`/api/qr/${qrCode.id}`);
    expect(reply.json().data.statistics).toMatchObject({
      totalTransactions: 3,
      successfulTransactions: 2,
      totalAmount: 14.33,
      successRate: '66.67',
    });
  });
});

describe('GET /api/qr/:id/transactions', () => {
  it("lists only that code's payments, newest first, filtered by status and paged", async () => {
    const qrCode = await createQr(merchant);
    const neighbour = await createQr(merchant);
    await pay(merchant, neighbour.qrId, 5, 'Success', hoursAgo(1.5));
    const fourHours = await pay(merchant, qrCode.qrId, 10, 'Success', hoursAgo(4));
    const oneHour = await pay(merchant, qrCode.qrId, 20, 'Failed', hoursAgo(1));
    const threeHours = await pay(merchant, qrCode.qrId, 30, 'Pending', hoursAgo(3));
    const twoHours = await pay(merchant, qrCode.qrId, 40, 'Success', hoursAgo(2));

    const paymentIds = (reply: Reply) =>
      reply.json().data.transactions.map((transaction: PaymentJson) => transaction.paymentId);

    const all = await merchant.client.get(`/api/qr/${qrCode.qrId}/transactions`);
    expect(all.statusCode, all.body).toBe(200);
    expect(paymentIds(all)).toEqual([oneHour, twoHours, threeHours, fourHours].map((t) => t.paymentId));
    expect(all.json().data.pagination).toEqual({ current: 1, total: 1, count: 4, totalRecords: 4 });
    expect(all.json().data.transactions[0]).toMatchObject({
      id: oneHour.id,
      qrId: qrCode.qrId,
      merchantId: merchant.user.merchantId,
      amount: 20,
      status: 'Failed',
      timestamp: oneHour.timestamp,
    });

    const success = await merchant.client.get(`/api/qr/${qrCode.id}/transactions?status=Success`);
    expect(paymentIds(success)).toEqual([twoHours.paymentId, fourHours.paymentId]);
    expect(success.json().data.pagination).toEqual({ current: 1, total: 1, count: 2, totalRecords: 2 });

    const page2 = await merchant.client.get(`/api/qr/${qrCode.qrId}/transactions?limit=3&page=2`);
    expect(paymentIds(page2)).toEqual([fourHours.paymentId]);
    expect(page2.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 4 });

    expectFieldError(await merchant.client.get(`/api/qr/${qrCode.qrId}/transactions?status=Done`), 'status');
    expectError(await merchant.client.get('/api/qr/ZZZZZ/transactions'), 404, 'QR_NOT_FOUND');
  });
});

describe('PUT /api/qr/:id', () => {
  it('updates the given fields, trimmed, and leaves the others alone', async () => {
    const qrCode = await createQr(merchant, { description: 'Old', notes: 'keep me', maxAmount: 10 });
    const reply = await merchant.client.put(`/api/qr/${qrCode.id}`, {
      vpa: ' new.vpa@okaxis ',
      referenceName: '  New Name ',
      description: ' Fresh description ',
      maxAmount: 500.25,
      category: 'Rental',
    });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().message).toBe('QR Code updated successfully');
    const updated = reply.json().data.qrCode;
    expect(updated).toEqual({
      ...qrCode,
      vpa: 'new.vpa@okaxis',
      referenceName: 'New Name',
      description: 'Fresh description',
      maxAmount: 500.25,
      category: 'Rental',
      upiLink: `upi://pay?pa=new.vpa@okaxis&pn=New%20Name&tr=${qrCode.qrId}&tn=Fresh%20description&cu=INR`,
      updatedAt: expect.stringMatching(ISO_PATTERN),
    });
    expect(new Date(updated.updatedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(qrCode.updatedAt).getTime(),
    );
    expect(await qrRow(qrCode.id)).toMatchObject({
      vpa: 'new.vpa@okaxis',
      referenceName: 'New Name',
      maxAmountMinor: 50025n,
      notes: 'keep me',
    });
    expect((await merchant.client.get(`/api/qr/${qrCode.qrId}`)).json().data.qrCode).toEqual(updated);

    // null (or blank) clears the optional texts.
    const cleared = await merchant.client.put(`/api/qr/${qrCode.qrId}`, { description: null, notes: '  ' });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json().data.qrCode).toMatchObject({
      description: null,
      notes: null,
      upiLink: `upi://pay?pa=new.vpa@okaxis&pn=New%20Name&tr=${qrCode.qrId}&cu=INR`,
    });
  });

  it('accepts the same qrId but refuses a different one (400 naming qrId)', async () => {
    const qrCode = await createQr(merchant);
    const same = await merchant.client.put(`/api/qr/${qrCode.id}`, {
      qrId: qrCode.qrId,
      referenceName: 'Same',
    });
    expect(same.statusCode, same.body).toBe(200);
    expect(same.json().data.qrCode).toMatchObject({ qrId: qrCode.qrId, referenceName: 'Same' });

    const other = freshQrId();
    const changed = await merchant.client.put(`/api/qr/${qrCode.id}`, {
      qrId: other,
      referenceName: 'Changed',
    });
    expectFieldError(changed, 'qrId');
    const row = await qrRow(qrCode.id);
    expect(row).toMatchObject({ qrId: qrCode.qrId, referenceName: 'Same' });
    expectError(await merchant.client.get(`/api/qr/${other}`), 404, 'QR_NOT_FOUND');
  });

  it('validates like create and changes nothing on a refusal', async () => {
    const qrCode = await createQr(merchant, { maxAmount: 100 });
    const cases: [Record<string, unknown>, string][] = [
      [{ referenceName: '   ' }, 'referenceName'],
      [{ referenceName: 'r'.repeat(101) }, 'referenceName'],
      [{ vpa: 'no-at-sign' }, 'vpa'],
      [{ vpa: 'shop@1bank' }, 'vpa'],
      [{ vpa: `${'a'.repeat(257)}@okaxis` }, 'vpa'],
      [{ description: 'd'.repeat(256) }, 'description'],
      [{ notes: 'n'.repeat(501) }, 'notes'],
      [{ maxAmount: 10.005 }, 'maxAmount'],
      [{ maxAmount: 0.5 }, 'maxAmount'],
      [{ maxAmount: 100000.01 }, 'maxAmount'],
      [{ maxAmount: -1 }, 'maxAmount'],
      [{ category: 'Food' }, 'category'],
      [{ status: 'Paused' }, 'status'],
      [{ simulationActive: true }, 'simulationActive'],
      [{ merchantId: randomUUID() }, 'merchantId'],
      [{ colour: 'blue' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const reply = await merchant.client.put(`/api/qr/${qrCode.id}`, { referenceName: 'Valid', ...body });
      expectFieldError(reply, field, JSON.stringify(body));
    }
    const after = await merchant.client.get(`/api/qr/${qrCode.id}`);
    expect(after.json().data.qrCode).toEqual(qrCode);
  });

  it('stops an active simulation when the status becomes Inactive', async () => {
    const qrCode = await createQr(merchant);
    const started = await merchant.client.post(`/api/qr/${qrCode.id}/simulation`);
    expect(started.json().data.simulation.simulationActive).toBe(true);

    const reply = await merchant.client.put(`/api/qr/${qrCode.id}`, { status: 'Inactive' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.qrCode).toMatchObject({ status: 'Inactive', simulationActive: false });
    expect(await qrRow(qrCode.id)).toMatchObject({
      status: 'Inactive',
      simulationActive: false,
      simulationNextRunAt: null,
    });
    // Becoming Active again does not restart it.
    const active = await merchant.client.put(`/api/qr/${qrCode.id}`, { status: 'Active' });
    expect(active.json().data.qrCode).toMatchObject({ status: 'Active', simulationActive: false });
  });

  it('answers 404 QR_NOT_FOUND for an unknown code', async () => {
    expectError(await merchant.client.put('/api/qr/ZZZZZ', { referenceName: 'x' }), 404, 'QR_NOT_FOUND');
  });
});

describe('DELETE /api/qr/:id', () => {
  it('deletes the code with its payments, their history and its rollups, in one go', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const doomed = await createQr(owner);
    const kept = await createQr(owner);
    const paid = [
      await pay(owner, doomed.qrId, 100, 'Success', hoursAgo(30)),
      await pay(owner, doomed.qrId, 25.5, 'Failed', hoursAgo(2)),
      await pay(owner, doomed.qrId, 70, 'Pending', hoursAgo(1)),
    ];
    const keptPayment = await pay(owner, kept.qrId, 40, 'Success', hoursAgo(2));
    // A second history row for one of them.
    expect(
      (await owner.client.patch(`/api/transactions/${paid[2]?.paymentId}`, { status: 'Success' })).statusCode,
    ).toBe(200);
    const paidIds = paid.map((transaction) => transaction.id);
    expect(
      await db()
        .selectFrom('qrTransactionStatusHistory')
        .select('id')
        .where('transactionId', 'in', paidIds)
        .execute(),
    ).toHaveLength(4);
    expect(
      await db()
        .selectFrom('qrTransactionRollups')
        .select('qrCodeId')
        .where('qrCodeId', '=', doomed.id)
        .execute(),
    ).not.toHaveLength(0);

    const reply = await owner.client.delete(`/api/qr/${doomed.qrId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({
      success: true,
      data: { qrId: doomed.qrId, deletedTransactions: 3 },
      message: 'QR Code deleted successfully',
    });

    expect(await qrRow(doomed.id)).toBeUndefined();
    expect(
      await db().selectFrom('qrTransactions').select('id').where('qrCodeId', '=', doomed.id).execute(),
    ).toEqual([]);
    expect(
      await db()
        .selectFrom('qrTransactionStatusHistory')
        .select('id')
        .where('transactionId', 'in', paidIds)
        .execute(),
    ).toEqual([]);
    expect(
      await db()
        .selectFrom('qrTransactionRollups')
        .select('qrCodeId')
        .where('qrCodeId', '=', doomed.id)
        .execute(),
    ).toEqual([]);
    expect(
      await db()
        .selectFrom('qrTransactionTotals')
        .select('qrCodeId')
        .where('qrCodeId', '=', doomed.id)
        .execute(),
    ).toEqual([]);

    // The merchant's rollups now hold only the kept code's payment.
    const merchantRollups = await db()
      .selectFrom('qrMerchantRollups')
      .selectAll()
      .where('merchantId', '=', owner.user.merchantId!)
      .execute();
    const sum = (
      column:
        | 'successCount'
        | 'successAmountMinor'
        | 'failedCount'
        | 'failedAmountMinor'
        | 'pendingCount'
        | 'pendingAmountMinor',
    ) => merchantRollups.reduce((total, row) => total + BigInt(row[column]), 0n);
    expect({
      successCount: sum('successCount'),
      successAmountMinor: sum('successAmountMinor'),
      failedCount: sum('failedCount'),
      failedAmountMinor: sum('failedAmountMinor'),
      pendingCount: sum('pendingCount'),
      pendingAmountMinor: sum('pendingAmountMinor'),
    }).toEqual({
      successCount: 1n,
      successAmountMinor: 4000n,
      failedCount: 0n,
      failedAmountMinor: 0n,
      pendingCount: 0n,
      pendingAmountMinor: 0n,
    });
    const stats = await owner.client.get('/api/transactions/stats');
    expect(stats.json().data.summary).toMatchObject({ totalTransactions: 1, totalAmount: 40 });

    // The other code and its payment are untouched.
    const keptReply = await owner.client.get(`/api/qr/${kept.id}`);
    expect(keptReply.json().data.statistics).toMatchObject({ totalTransactions: 1, totalAmount: 40 });
    expect((await owner.client.get(`/api/transactions/${keptPayment.paymentId}`)).statusCode).toBe(200);

    expectError(await owner.client.get(`/api/qr/${doomed.qrId}`), 404, 'QR_NOT_FOUND');
    expectError(await owner.client.get(`/api/qr/${doomed.id}`), 404, 'QR_NOT_FOUND');
    expectError(await owner.client.delete(`/api/qr/${doomed.id}`), 404, 'QR_NOT_FOUND');
    expectError(
      await owner.client.get(`/api/transactions/${paid[0]?.paymentId}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );

    const audit = await db()
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'qr.deleted')
      .where('targetId', '=', doomed.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorId: owner.user.id,
      details: { qrId: doomed.qrId, merchantId: owner.user.merchantId, deletedTransactions: 3 },
    });
  });

  it('deletes a code without payments, and one being simulated', async () => {
    const qrCode = await createQr(merchant, { simulationActive: true });
    const reply = await merchant.client.delete(`/api/qr/${qrCode.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ qrId: qrCode.qrId, deletedTransactions: 0 });
    expect(await qrRow(qrCode.id)).toBeUndefined();
    const status = await merchant.client.get('/api/simulation/status');
    expect(status.json().data.simulations.map((state: { qrId: string }) => state.qrId)).not.toContain(
      qrCode.qrId,
    );
  });
});

describe('POST /api/qr/:id/status and /simulation', () => {
  it('toggles Active and Inactive, or sets the given status', async () => {
    const qrCode = await createQr(merchant);
    const toggled = await merchant.client.post(`/api/qr/${qrCode.id}/status`);
    expect(toggled.statusCode, toggled.body).toBe(200);
    expect(toggled.json().message).toBe('QR Code is now Inactive');
    expect(toggled.json().data.qrCode).toMatchObject({ id: qrCode.id, status: 'Inactive' });
    expect((await qrRow(qrCode.id))?.status).toBe('Inactive');

    const back = await merchant.client.post(`/api/qr/${qrCode.qrId}/status`);
    expect(back.json().data.qrCode.status).toBe('Active');
    expect(back.json().message).toBe('QR Code is now Active');

    const setActive = await merchant.client.post(`/api/qr/${qrCode.qrId}/status`, { status: 'Active' });
    expect(setActive.statusCode, setActive.body).toBe(200);
    expect(setActive.json().data.qrCode.status).toBe('Active');
    for (let i = 0; i < 2; i += 1) {
      const setInactive = await merchant.client.post(`/api/qr/${qrCode.qrId}/status`, { status: 'Inactive' });
      expect(setInactive.json().data.qrCode.status).toBe('Inactive');
    }
    const empty = await merchant.client.post(`/api/qr/${qrCode.qrId}/status`, {});
    expect(empty.json().data.qrCode.status).toBe('Active');

    expectFieldError(
      await merchant.client.post(`/api/qr/${qrCode.id}/status`, { status: 'Paused' }),
      'status',
      'status Paused',
    );
    expectFieldError(
      await merchant.client.post(`/api/qr/${qrCode.id}/status`, { colour: 'red' }),
      'colour',
      'unknown field',
    );
    expectError(await merchant.client.post('/api/qr/ZZZZZ/status'), 404, 'QR_NOT_FOUND');

    const changes = await db()
      .selectFrom('auditLogs')
      .select('details')
      .where('action', '=', 'qr.status_changed')
      .where('targetId', '=', qrCode.id)
      .execute();
    // Four real changes (setting the status it already has records nothing); rows written in
    // the same millisecond have no order, so they are compared as a sorted list.
    for (const row of changes)
      expect(Object.keys(row.details as object).sort()).toEqual(['from', 'qrId', 'to']);
    const moves = changes
      .map((row) => row.details as { qrId: string; from: string; to: string })
      .map((details) => `${details.qrId}: ${details.from} -> ${details.to}`)
      .sort();
    expect(moves).toEqual([
      `${qrCode.qrId}: Active -> Inactive`,
      `${qrCode.qrId}: Active -> Inactive`,
      `${qrCode.qrId}: Inactive -> Active`,
      `${qrCode.qrId}: Inactive -> Active`,
    ]);
  });

  it('an Inactive code takes no payments (409 QR_INACTIVE)', async () => {
    const qrCode = await createQr(merchant, { status: 'Inactive' });
    const reply = await merchant.client.post('/api/transactions', { qrId: qrCode.qrId, amount: 10 });
    expectError(reply, 409, 'QR_INACTIVE');
  });

  it('toggles the simulation, and stopping the code stops it', async () => {
    const qrCode = await createQr(merchant);
    const started = await merchant.client.post(`/api/qr/${qrCode.qrId}/simulation`);
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json().message).toBe('Simulation started');
    expect(started.json().data.simulation).toEqual({
      qrId: qrCode.qrId,
      simulationActive: true,
      generated: 0,
      nextRunAt: expect.stringMatching(ISO_PATTERN),
    });
    expect((await merchant.client.get(`/api/qr/${qrCode.id}`)).json().data.qrCode.simulationActive).toBe(
      true,
    );

    const stopped = await merchant.client.post(`/api/qr/${qrCode.id}/simulation`);
    expect(stopped.json().message).toBe('Simulation stopped');
    expect(stopped.json().data.simulation).toEqual({
      qrId: qrCode.qrId,
      simulationActive: false,
      generated: 0,
      nextRunAt: null,
    });
    expect(await qrRow(qrCode.id)).toMatchObject({ simulationActive: false, simulationNextRunAt: null });

    // Start again, then deactivate the code: the simulation stops with it.
    expect(
      (await merchant.client.post(`/api/qr/${qrCode.id}/simulation`)).json().data.simulation.simulationActive,
    ).toBe(true);
    const inactive = await merchant.client.post(`/api/qr/${qrCode.id}/status`);
    expect(inactive.json().data.qrCode).toMatchObject({ status: 'Inactive', simulationActive: false });
    expect(await qrRow(qrCode.id)).toMatchObject({ simulationActive: false, simulationNextRunAt: null });
  });

  it('refuses to simulate an Inactive code (409 QR_INACTIVE)', async () => {
    const qrCode = await createQr(merchant, { status: 'Inactive' });
    expectError(await merchant.client.post(`/api/qr/${qrCode.id}/simulation`), 409, 'QR_INACTIVE');
    expect((await qrRow(qrCode.id))?.simulationActive).toBe(false);
    expectError(await merchant.client.post('/api/qr/ZZZZZ/simulation'), 404, 'QR_NOT_FOUND');
  });
});

describe('GET /api/qr/:id/upi-link', () => {
  let shop: QrCodeJson;
  beforeAll(async () => {
    shop = await createQr(merchant, {
      referenceName: 'Corner Shop',
      description: 'Tea and snacks',
      maxAmount: 500,
    });
  });

  const link = async (path: string) => {
    const reply = await merchant.client.get(path);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(Object.keys(reply.json().data)).toEqual(['upiLink']);
    return reply.json().data.upiLink as string;
  };

  it('is the exact NPCI link, and the one the code shows', async () => {
    const expected = `upi://pay?pa=shop@okaxis&pn=Corner%20Shop&tr=${shop.qrId}&tn=Tea%20and%20snacks&cu=INR`;
    expect(await link(`/api/qr/${shop.qrId}/upi-link`)).toBe(expected);
    expect(await link(`/api/v1/qr/${shop.id}/upi-link`)).toBe(expected);
    expect(shop.upiLink).toBe(expected);
  });

  it('leaves tn out without a description', async () => {
    const plain = await createQr(merchant, { vpa: 'plain@okaxis', referenceName: 'Plain' });
    expect(await link(`/api/qr/${plain.qrId}/upi-link`)).toBe(
      `upi://pay?pa=plain@okaxis&pn=Plain&tr=${plain.qrId}&cu=INR`,
    );
  });

  it('adds am with two decimals before cu for ?amount=', async () => {
    const base = `upi://pay?pa=shop@okaxis&pn=Corner%20Shop&tr=${shop.qrId}&tn=Tea%20and%20snacks`;
    expect(await link(`/api/qr/${shop.qrId}/upi-link?amount=250`)).toBe(`${base}&am=250.00&cu=INR`);
    expect(await link(`/api/qr/${shop.qrId}/upi-link?amount=99.5`)).toBe(`${base}&am=99.50&cu=INR`);
    expect(await link(`/api/qr/${shop.qrId}/upi-link?amount=0.01`)).toBe(`${base}&am=0.01&cu=INR`);
    expect(await link(`/api/qr/${shop.qrId}/upi-link?amount=500`)).toBe(`${base}&am=500.00&cu=INR`);
  });

  it('refuses an amount above maxAmount (422), with three decimals or not positive (400)', async () => {
    expectError(
      await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=500.01`),
      422,
      'AMOUNT_ABOVE_MAX',
    );
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=10.005`), 'amount');
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=0`), 'amount');
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=-5`), 'amount');
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=abc`), 'amount');
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=100000.01`), 'amount');
    // Without a maximum (0) any amount up to 100000 is fine.
    const open = await createQr(merchant, { maxAmount: 0 });
    expect(await link(`/api/qr/${open.qrId}/upi-link?amount=100000`)).toContain('&am=100000.00&cu=INR');
  });

  it('percent-encodes special characters so the link parses back to the same values', async () => {
    const referenceName = 'Chai & Co = #1? 50% off + more';
    const description = 'चाय/coffee & snacks #2 a=b?c';
    const qrCode = await createQr(merchant, { vpa: 'chai.co-1_x@okaxis', referenceName, description });
    const upiLink = await link(`/api/qr/${qrCode.qrId}/upi-link?amount=12.3`);
    expect(upiLink).not.toMatch(/[ #+]/);
    expect(upiLink).not.toContain('चाय');
    expect(upiLink).toContain('pn=Chai%20%26%20Co%20%3D%20%231%3F%2050%25%20off%20%2B%20more');
    expect(upiLink).toContain('tn=%E0%A4%9A%E0%A4%BE%E0%A4%AF%2Fcoffee%20%26%20snacks%20%232%20a%3Db%3Fc');
    const query = queryOf(upiLink);
    expect([...query.entries()]).toEqual([
      ['pa', 'chai.co-1_x@okaxis'],
      ['pn', referenceName],
      ['tr', qrCode.qrId],
      ['tn', description],
      ['am', '12.30'],
      ['cu', 'INR'],
    ]);
  });
});

describe('GET /api/qr/:id/image.png and .svg', () => {
  let shop: QrCodeJson;
  let shopLink: string;
  beforeAll(async () => {
    shop = await createQr(merchant, {
      vpa: 'chai.point@okhdfcbank',
      referenceName: 'Chai Point & Co',
      description: 'चाय और नाश्ता #1',
      maxAmount: 1000,
    });
    shopLink = (await merchant.client.get(`/api/qr/${shop.qrId}/upi-link`)).json().data.upiLink;
  });

  it('renders a PNG whose QR code decodes to the UPI link', async () => {
    const reply = await merchant.client.get(`/api/qr/${shop.qrId}/image.png`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.headers['content-type']).toBe('image/png');
    expect(reply.headers['content-disposition']).toBe(`inline; filename="qr-${shop.qrId}.png"`);
    const decoded = decodePng(reply.rawPayload);
    expect(decoded.text).toBe(shopLink);
    expect(decoded.text).toBe(
      `upi://pay?pa=chai.point@okhdfcbank&pn=Chai%20Point%20%26%20Co&tr=${shop.qrId}` +
        '&tn=%E0%A4%9A%E0%A4%BE%E0%A4%AF%20%E0%A4%94%E0%A4%B0%20%E0%A4%A8%E0%A4%BE%E0%A4%B6%E0%A5%8D%E0%A4%A4%E0%A4%BE%20%231&cu=INR',
    );
    expect(queryOf(decoded.text).get('tn')).toBe('चाय और नाश्ता #1');
    expect([decoded.width, decoded.height]).toEqual([512, 512]);
  });

  it('puts a fixed amount into the PNG with ?amount=, and refuses one above maxAmount', async () => {
    const reply = await merchant.client.get(`/api/qr/${shop.id}/image.png?amount=250`);
    expect(reply.statusCode, reply.body).toBe(200);
    const linkWithAmount = (await merchant.client.get(`/api/qr/${shop.id}/upi-link?amount=250`)).json().data
      .upiLink;
    expect(linkWithAmount).toContain('&am=250.00&cu=INR');
    expect(decodePng(reply.rawPayload).text).toBe(linkWithAmount);
    expectError(
      await merchant.client.get(`/api/qr/${shop.id}/image.png?amount=1000.01`),
      422,
      'AMOUNT_ABOVE_MAX',
    );
    expectFieldError(await merchant.client.get(`/api/qr/${shop.id}/image.png?amount=1.001`), 'amount');
  });

  it('sizes the PNG with ?size= (128 to 2048 pixels)', async () => {
    for (const size of [256, 1024]) {
      const reply = await merchant.client.get(`/api/qr/${shop.qrId}/image.png?size=${size}`);
      expect(reply.statusCode, reply.body).toBe(200);
      const decoded = decodePng(reply.rawPayload);
      expect([decoded.width, decoded.height]).toEqual([size, size]);
      expect(decoded.text).toBe(shopLink);
    }
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/image.png?size=100`), 'size');
    expectFieldError(await merchant.client.get(`/api/qr/${shop.qrId}/image.png?size=4096`), 'size');
  });

  it('renders an SVG whose QR code decodes to the UPI link, with and without an amount', async () => {
    const reply = await merchant.client.get(`/api/qr/${shop.qrId}/image.svg`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^image\/svg\+xml(;|$)/);
    expect(reply.headers['content-disposition']).toBe(`inline; filename="qr-${shop.qrId}.svg"`);
    expect(reply.body.startsWith('<svg')).toBe(true);
    expect(decodeSvg(reply.body)).toBe(shopLink);

    const withAmount = await merchant.client.get(`/api/qr/${shop.qrId}/image.svg?amount=99.9`);
    expect(withAmount.statusCode, withAmount.body).toBe(200);
    const decoded = decodeSvg(withAmount.body);
    expect(queryOf(decoded).get('am')).toBe('99.90');
    expect(decoded).toBe(
      (await merchant.client.get(`/api/qr/${shop.qrId}/upi-link?amount=99.9`)).json().data.upiLink,
    );
  });

  it('needs the same authentication as the code itself', async () => {
    const anonymous = client(testApp.app);
    const stranger = await createAccount(testApp, 'merchant');
    const user = await createAccount(testApp, 'user');
    for (const path of [
      `/api/qr/${shop.qrId}/image.png`,
      `/api/qr/${shop.id}/image.svg`,
      `/api/qr/${shop.qrId}/upi-link`,
    ]) {
      expectError(await anonymous.get(path), 401, 'UNAUTHORIZED');
      expectError(await user.client.get(path), 403, 'FORBIDDEN');
      expectError(await stranger.client.get(path), 404, 'QR_NOT_FOUND');
      expect((await merchant.apiClient!.get(path)).statusCode).toBe(200);
      expect((await admin.client.get(path)).statusCode).toBe(200);
    }
    const viaKey = await merchant.apiClient!.get(`/api/qr/${shop.qrId}/image.png`);
    expect(decodePng(viaKey.rawPayload).text).toBe(shopLink);
  });
});

describe('cross-tenant access', () => {
  it("answers 404 to another merchant on every route of a merchant's QR code", async () => {
    const owner = await createAccount(testApp, 'merchant');
    const stranger = await createAccount(testApp, 'merchant');
    const qrCode = await createQr(owner, { description: 'Private' });
    await pay(owner, qrCode.qrId, 10, 'Success', hoursAgo(1));
    const probes = (key: string) =>
      [
        { method: 'GET', url: `/api/qr/${key}` },
        { method: 'PUT', url: `/api/qr/${key}`, body: { referenceName: 'Renamed' } },
        { method: 'GET', url: `/api/qr/${key}/transactions` },
        { method: 'GET', url: `/api/qr/${key}/upi-link` },
        { method: 'GET', url: `/api/qr/${key}/image.png` },
        { method: 'GET', url: `/api/qr/${key}/image.svg` },
        { method: 'POST', url: `/api/qr/${key}/simulation` },
        { method: 'POST', url: `/api/qr/${key}/status` },
      ] as const;
    await expectTenantIsolation(owner.client, stranger.client, probes(qrCode.qrId));
    await expectTenantIsolation(owner.client, stranger.client, probes(qrCode.id));
    await expectTenantIsolation(owner.client, stranger.client, [
      { method: 'POST', url: '/api/transactions', body: { qrId: qrCode.qrId, amount: 10 } },
    ]);
    // Whatever the stranger sent changed nothing it could see; its own list stays empty.
    expect((await stranger.client.get('/api/qr')).json().data.pagination.totalRecords).toBe(0);
    await expectTenantIsolation(owner.client, stranger.client, [
      { method: 'DELETE', url: `/api/qr/${qrCode.id}` },
    ]);
    expect(await qrRow(qrCode.id)).toBeUndefined();
  });

  it("a stranger's attempts leave the code as it was", async () => {
    const owner = await createAccount(testApp, 'merchant');
    const stranger = await createAccount(testApp, 'merchant');
    const qrCode = await createQr(owner);
    expectError(
      await stranger.client.put(`/api/qr/${qrCode.id}`, { referenceName: 'Mine' }),
      404,
      'QR_NOT_FOUND',
    );
    expectError(await stranger.client.post(`/api/qr/${qrCode.id}/status`), 404, 'QR_NOT_FOUND');
    expectError(await stranger.client.post(`/api/qr/${qrCode.id}/simulation`), 404, 'QR_NOT_FOUND');
    expectError(await stranger.client.delete(`/api/qr/${qrCode.id}`), 404, 'QR_NOT_FOUND');
    expectError(await stranger.apiClient!.get(`/api/qr/${qrCode.qrId}`), 404, 'QR_NOT_FOUND');
    expect((await owner.client.get(`/api/qr/${qrCode.id}`)).json().data.qrCode).toEqual(qrCode);
  });
});

describe('POST /api/qr with an Idempotency-Key', () => {
  it('creates once and replays the first reply; a different body with the key is a 422', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const headers = { 'idempotency-key': `create-qr-${Date.now()}` };
    const first = await owner.client.post('/api/qr', { ...BASE_BODY, referenceName: 'Once' }, headers);
    expect(first.statusCode, first.body).toBe(201);
    const again = await owner.client.post('/api/qr', { ...BASE_BODY, referenceName: 'Once' }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const rows = await db()
      .selectFrom('qrCodes')
      .select('id')
      .where('merchantId', '=', owner.user.merchantId as string)
      .execute();
    expect(rows).toHaveLength(1);
    expectError(
      await owner.client.post('/api/qr', { ...BASE_BODY, referenceName: 'Other' }, headers),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
  });
});
