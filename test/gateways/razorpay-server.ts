import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { upiPaymentLink } from '../../src/lib/upi.ts';

/**
 * A local imitation of Razorpay's API (https://razorpay.com/docs/api) for tests: Basic auth
 * checked on every request, integer paise, its entity shapes and error bodies, its webhook
 * signature (hex HMAC-SHA256 of the raw body under the webhook secret). Only the endpoints the
 * connector uses: orders, S2S UPI payments, payments, refunds (and fetching one), payment links.
 */

import type {
  FakeBehaviour,
  FakeGateway,
  FakeRefundStatusBehaviour,
  RecordedRequest,
  SignedWebhook,
} from './fake-gateway.ts';

export type { FakeBehaviour, FakeGateway, FakeRefundStatusBehaviour, RecordedRequest, SignedWebhook };

type Json = Record<string, unknown>;
type PaymentStatus = 'created' | 'authorized' | 'captured' | 'refunded' | 'failed';
type LinkStatus = 'created' | 'paid' | 'expired';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 14;
/** Razorpay's smallest payment and refund: ₹1.00. */
const AMOUNT_MIN = 100;
/** An order's `receipt` and a payment link's `reference_id`. */
const REFERENCE_LENGTH_MAX = 40;
const NOTES_COUNT_MAX = 15;
const NOTE_LENGTH_MAX = 256;
const REQUEST_BYTES_MAX = 64 * 1024;
const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{10,}$/;
const VPA_PATTERN = /^[\w.-]+@[\w.-]+$/;
const ACCOUNT_ID = 'acc_TijoriTestAcct';
const PAYEE_VPA = 'razorpay@icici';

const ORDER_FIELDS = [
  'amount',
  'currency',
  'receipt',
  'notes',
  'partial_payment',
  'first_payment_min_amount',
];
const UPI_PAYMENT_FIELDS = [
  'amount',
  'currency',
  'order_id',
  'method',
  'email',
  'contact',
  'customer_id',
  'upi',
  'ip',
  'referer',
  'user_agent',
  'description',
  'save',
  'recurring',
  'notes',
  'callback_url',
];
const LINK_FIELDS = [
  'amount',
  'currency',
  'accept_partial',
  'first_min_partial_amount',
  'expire_by',
  'reference_id',
  'description',
  'customer',
  'notify',
  'reminder_enable',
  'notes',
  'callback_url',
  'callback_method',
  'options',
  'upi_link',
];
const REFUND_FIELDS = ['amount', 'speed', 'notes', 'receipt'];
/** The payer's browser, which the S2S payment APIs mark mandatory. */
const CLIENT_FIELDS = ['ip', 'referer', 'user_agent'] as const;

export interface RazorpayGatewayOptions {
  readonly credentials?: Record<string, string>;
  /**
   * Refuse an S2S UPI payment without `ip`, `referer` or `user_agent`, as Razorpay documents them
   * mandatory. Off by default, unlike Razorpay: a payment whose merchant forwarded no payer
   * reaches it without an `ip`, and the many tests that pay that way would all be refused.
   */
  readonly requireClientFields?: boolean;
}

interface OrderRecord {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly receipt: string | null;
  readonly notes: Json;
  readonly createdAt: number;
  readonly paymentIds: string[];
  amountPaid: number;
}

interface Failure {
  readonly code: string;
  readonly description: string;
  readonly source: string;
  readonly step: string;
  readonly reason: string;
}

interface PaymentRecord {
  readonly id: string;
  readonly orderId: string;
  readonly amount: number;
  readonly currency: string;
  readonly method: 'upi' | 'card' | 'netbanking';
  readonly flow: 'collect' | 'intent' | null;
  readonly vpa: string | null;
  readonly email: string | null;
  readonly contact: string | null;
  readonly description: string | null;
  readonly notes: Json;
  readonly createdAt: number;
  status: PaymentStatus;
  amountRefunded: number;
  failure: Failure | null;
}

interface LinkRecord {
  readonly id: string;
  readonly orderId: string;
  readonly amount: number;
  readonly currency: string;
  readonly referenceId: string | null;
  readonly description: string | null;
  readonly customer: Json;
  readonly notes: Json;
  readonly callbackUrl: string | null;
  readonly method: 'card' | 'netbanking';
  readonly shortUrl: string;
  readonly createdAt: number;
  status: LinkStatus;
  paymentId: string | null;
}

interface RefundRecord {
  readonly id: string;
  readonly paymentId: string;
  readonly amount: number;
  readonly currency: string;
  readonly receipt: string | null;
  readonly notes: Json;
  readonly createdAt: number;
  /** pending, processed or failed; a test may set any other string Razorpay might send. */
  status: string;
}

type Attempt =
  | { readonly kind: 'order'; readonly orderId: string }
  | { readonly kind: 'link'; readonly linkId: string };

/** A reply Razorpay would send instead of the entity: thrown by handlers, sent by the router. */
class RazorpayError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String((body.error as Json | undefined)?.description));
  }
}

const DECLINE: Failure = {
  code: 'BAD_REQUEST_ERROR',
  description: 'Payment was declined by the customer.',
  source: 'customer',
  step: 'payment_authorization',
  reason: 'payment_declined',
};

function errorBody(
  code: string,
  description: string,
  details: Partial<Failure> & { field?: string; metadata?: Json } = {},
) {
  const { source = 'NA', step = 'NA', reason = 'NA', metadata = {}, field } = details;
  return {
    error: { code, description, source, step, reason, metadata, ...(field === undefined ? {} : { field }) },
  };
}

function invalidInput(description: string, field?: string): RazorpayError {
  return new RazorpayError(
    400,
    errorBody('BAD_REQUEST_ERROR', description, {
      source: 'business',
      step: 'payment_initiation',
      reason: 'input_validation_failed',
      field,
    }),
  );
}

function badRequest(description: string, status = 400): RazorpayError {
  return new RazorpayError(status, errorBody('BAD_REQUEST_ERROR', description));
}

const authenticationFailed = () =>
  new RazorpayError(401, errorBody('BAD_REQUEST_ERROR', 'Authentication failed'));
const serverError = () =>
  new RazorpayError(
    500,
    errorBody('SERVER_ERROR', 'The server encountered an error. The incident has been reported to admins.'),
  );
const notFound = () => badRequest('The id provided does not exist');

function randomId(prefix: string): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return prefix === '' ? id : `${prefix}_${id}`;
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

function asJson(value: unknown): Json | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function checkFields(body: Json, allowed: readonly string[], required: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalidInput(`${key} is/are not required and should not be sent`, key);
  }
  for (const key of required) {
    if (body[key] === undefined || body[key] === null || body[key] === '') {
      throw invalidInput(`The ${key} field is required.`, key);
    }
  }
}

/** The payer's browser fields, where given: strings, and `ip` an IPv4 or IPv6 address. */
function checkClientFields(body: Json): void {
  for (const field of CLIENT_FIELDS) {
    const value = body[field];
    if (value !== undefined && typeof value !== 'string')
      throw invalidInput(`The ${field} must be a string.`, field);
  }
  if (body.ip !== undefined && isIP(body.ip as string) === 0)
    throw invalidInput('The ip must be a valid IP address.', 'ip');
}

function amountFrom(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw invalidInput('The amount must be an integer.', 'amount');
  if (value < AMOUNT_MIN) throw invalidInput('The amount must be atleast INR 1.00', 'amount');
  return value;
}

function currencyFrom(value: unknown, fallback?: string): string {
  const currency = value ?? fallback;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency))
    throw invalidInput('The currency is invalid.', 'currency');
  return currency;
}

function referenceFrom(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalidInput(`The ${field} must be a string.`, field);
  if (value.length > REFERENCE_LENGTH_MAX)
    throw invalidInput(`The ${field} may not be greater than 40 characters.`, field);
  return value;
}

function notesFrom(value: unknown): Json {
  if (value === undefined || value === null) return {};
  const notes = asJson(value);
  if (notes === null) throw invalidInput('notes should be an object', 'notes');
  if (Object.keys(notes).length > NOTES_COUNT_MAX)
    throw invalidInput('Number of fields in notes should be less than or equal to 15', 'notes');
  for (const note of Object.values(notes)) {
    if (typeof note !== 'string' || note.length > NOTE_LENGTH_MAX)
      throw invalidInput('value: the length must not be greater than 255.', 'notes');
  }
  return notes;
}

function optionalText(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

class FakeRazorpay implements FakeGateway {
  behaviour: FakeBehaviour = 'succeed';
  refundStatusBehaviour: FakeRefundStatusBehaviour = 'answer';
  readonly requests: RecordedRequest[] = [];
  private readonly orders = new Map<string, OrderRecord>();
  private readonly payments = new Map<string, PaymentRecord>();
  private readonly links = new Map<string, LinkRecord>();
  private readonly refunds = new Map<string, RefundRecord>();
  private readonly refundKeys = new Map<string, { readonly body: string; readonly refundId: string }>();
  private readonly attempts = new Map<string, Attempt>();
  private readonly held = new Set<ServerResponse>();
  private baseUrlValue = '';

  constructor(
    private readonly server: Server,
    readonly credentials: Record<string, string>,
    private readonly requireClientFields: boolean,
  ) {}

  get baseUrl(): string {
    return this.baseUrlValue;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.baseUrlValue = `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const response of this.held) response.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- the test's view -----------------------------------------------------------------------

  paymentFor(attemptId: string) {
    const attempt = this.attempts.get(attemptId);
    if (attempt === undefined) return undefined;
    if (attempt.kind === 'link') {
      const link = this.linkOf(attempt.linkId);
      return { gatewayReference: link.id, status: link.status, amountMinor: BigInt(link.amount) };
    }
    const payment = this.latestPaymentOf(this.orderOf(attempt.orderId));
    if (payment === undefined) return undefined;
    return { gatewayReference: payment.id, status: payment.status, amountMinor: BigInt(payment.amount) };
  }

  settle(attemptId: string, outcome: 'succeeded' | 'failed'): void {
    const attempt = this.attemptOf(attemptId);
    if (attempt.kind === 'link') {
      const link = this.linkOf(attempt.linkId);
      if (outcome === 'succeeded') this.capture(this.linkPaymentOf(link));
      else link.status = 'expired';
      return;
    }
    const order = this.orderOf(attempt.orderId);
    const payment =
      this.latestPaymentOf(order) ?? this.createPayment(order, { method: 'upi', flow: 'intent' });
    if (outcome === 'succeeded') this.capture(payment);
    else this.fail(payment, DECLINE);
  }

  /**
   * Not part of the shared API: with `refundsQueued`, refunds answer `pending` (Razorpay queues
   * some), and `refundWebhookFor` settles one and signs its `refund.processed` or `refund.failed`
   * (`ageSec` back-dates its signed created_at).
   */
  refundsQueued = false;

  /**
   * Not part of the shared API: the amount `GET /v1/refunds/:id` reports for a refund, when a
   * test makes the gateway disagree with what was asked.
   */
  readonly refundAmountsReported = new Map<string, number>();

  settleRefund(refundId: string, outcome: 'succeeded' | 'failed'): void {
    const refund = this.refundOf(refundId);
    if (outcome === 'succeeded') {
      refund.status = 'processed';
      return;
    }
    if (refund.status !== 'failed') {
      // What a failed refund took is refundable again.
      const payment = this.paymentOf(refund.paymentId);
      payment.amountRefunded -= refund.amount;
      if (payment.status === 'refunded') payment.status = 'captured';
    }
    refund.status = 'failed';
  }

  setRefundStatus(refundId: string, status: string): void {
    this.refundOf(refundId).status = status;
  }

  refundWebhookFor(
    refundId: string,
    status: 'processed' | 'failed',
    options: { eventId?: string; ageSec?: number } = {},
  ): SignedWebhook {
    this.settleRefund(refundId, status === 'processed' ? 'succeeded' : 'failed');
    const refund = this.refundOf(refundId);
    const body = JSON.stringify({
      entity: 'event',
      account_id: ACCOUNT_ID,
      event: `refund.${status}`,
      contains: ['refund'],
      payload: { refund: { entity: refundEntity(refund) } },
      created_at: nowSec() - (options.ageSec ?? 0),
    });
    const signature = createHmac('sha256', this.credentials.webhookSecret ?? '')
      .update(body)
      .digest('hex');
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-razorpay-signature': signature,
        'x-razorpay-event-id': options.eventId ?? randomId(''),
      },
    };
  }

  webhookFor(
    attemptId: string,
    status: 'succeeded' | 'failed' | 'pending',
    options: { tamper?: boolean; eventId?: string; ageSec?: number } = {},
  ): SignedWebhook {
    const attempt = this.attemptOf(attemptId);
    const event =
      attempt.kind === 'link'
        ? this.linkEvent(this.linkOf(attempt.linkId), status)
        : this.orderEvent(attempt.orderId, status);
    const body = JSON.stringify({
      entity: 'event',
      account_id: ACCOUNT_ID,
      ...event,
      created_at: nowSec() - (options.ageSec ?? 0),
    });
    const signature = createHmac('sha256', this.credentials.webhookSecret ?? '')
      .update(body)
      .digest('hex');
    return {
      body: options.tamper ? tampered(body) : body,
      headers: {
        'content-type': 'application/json',
        'x-razorpay-signature': signature,
        'x-razorpay-event-id': options.eventId ?? randomId(''),
      },
    };
  }

  private orderEvent(orderId: string, status: 'succeeded' | 'failed' | 'pending'): Json {
    const payment = this.latestPaymentOf(this.orderOf(orderId));
    if (payment === undefined) throw new Error(`order ${orderId} has no payment to send a webhook about`);
    const snapshot: PaymentRecord =
      status === 'succeeded'
        ? { ...payment, status: 'captured', failure: null }
        : status === 'failed'
          ? { ...payment, status: 'failed', failure: DECLINE }
          : { ...payment, status: 'authorized', failure: null };
    const name = { succeeded: 'payment.captured', failed: 'payment.failed', pending: 'payment.authorized' }[
      status
    ];
    return { event: name, contains: ['payment'], payload: { payment: { entity: paymentEntity(snapshot) } } };
  }

  /** Payment link payments carry no notes of ours; the link's own events carry its reference_id. */
  private linkEvent(link: LinkRecord, status: 'succeeded' | 'failed' | 'pending'): Json {
    const payment = this.linkPaymentOf(link);
    if (status === 'pending') {
      const entity = paymentEntity({ ...payment, status: 'authorized' });
      return { event: 'payment.authorized', contains: ['payment'], payload: { payment: { entity } } };
    }
    if (status === 'failed') {
      const entity = linkEntity({ ...link, status: 'expired' }, null);
      return {
        event: 'payment_link.expired',
        contains: ['payment_link'],
        payload: { payment_link: { entity } },
      };
    }
    const captured: PaymentRecord = { ...payment, status: 'captured', failure: null };
    const order = this.orderOf(link.orderId);
    return {
      event: 'payment_link.paid',
      contains: ['payment_link', 'order', 'payment'],
      payload: {
        payment_link: { entity: linkEntity({ ...link, status: 'paid', paymentId: payment.id }, captured) },
        order: { entity: orderEntity({ ...order, amountPaid: order.amount }) },
        payment: { entity: paymentEntity(captured) },
      },
    };
  }

  // --- HTTP ----------------------------------------------------------------------------------

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const url = new URL(request.url ?? '/', 'http://razorpay.invalid');
    const method = request.method ?? 'GET';
    this.requests.push({
      method,
      path: `${url.pathname}${url.search}`,
      headers: { ...request.headers },
      body,
    });
    try {
      if (!this.authorised(request.headers.authorization)) throw authenticationFailed();
      const reply = this.route(method, url, body, request.headers);
      if (reply === 'hold') {
        this.held.add(response);
        response.on('close', () => this.held.delete(response));
        return;
      }
      send(response, 200, reply);
    } catch (error) {
      if (!(error instanceof RazorpayError)) throw error;
      send(response, error.status, error.body);
    }
  }

  private authorised(header: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
    if (match === null) return false;
    const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    return (
      separator > 0 &&
      decoded.slice(0, separator) === this.credentials.keyId &&
      decoded.slice(separator + 1) === this.credentials.keySecret
    );
  }

  private route(
    method: string,
    url: URL,
    rawBody: string,
    headers: IncomingMessage['headers'],
  ): Json | 'hold' {
    const path = url.pathname.replace(/\/+$/, '');
    const body = () => jsonBody(rawBody, headers);
    const routes: [string, RegExp, (id: string) => Json | 'hold'][] = [
      ['POST', /^\/v1\/orders$/, () => this.initiating(() => this.createOrder(body()))],
      ['GET', /^\/v1\/orders$/, () => this.listOrders(url.searchParams.get('receipt'))],
      ['GET', /^\/v1\/orders\/([^/]+)\/payments$/, (id) => this.orderPayments(id)],
      ['GET', /^\/v1\/orders\/([^/]+)$/, (id) => orderEntity(this.orderOf(id, true))],
      ['POST', /^\/v1\/payments\/create\/upi$/, () => this.initiating(() => this.createUpiPayment(body()))],
      [
        'POST',
        /^\/v1\/payments\/([^/]+)\/refund$/,
        (id) => this.refund(id, body(), rawBody, headers['x-refund-idempotency']),
      ],
      ['GET', /^\/v1\/payments\/([^/]+)$/, (id) => paymentEntity(this.paymentOf(id))],
      ['GET', /^\/v1\/refunds\/([^/]+)$/, (id) => this.fetchRefund(id)],
      ['POST', /^\/v1\/payment_links$/, () => this.initiating(() => this.createLink(body()))],
      ['GET', /^\/v1\/payment_links\/([^/]+)$/, (id) => this.fetchLink(id)],
    ];
    for (const [routeMethod, pattern, handler] of routes) {
      const match = pattern.exec(path);
      if (method === routeMethod && match !== null) return handler(match[1] ?? '');
    }
    throw badRequest('The requested URL was not found on the server.');
  }

  /** `GET /v1/refunds/:id`, under the refund status behaviour. */
  private fetchRefund(refundId: string): Json | 'hold' {
    if (this.refundStatusBehaviour === 'timeout') return 'hold';
    if (this.refundStatusBehaviour === 'error') throw serverError();
    const refund = this.refunds.get(refundId);
    if (refund === undefined) throw notFound();
    const reported = this.refundAmountsReported.get(refundId);
    return reported === undefined ? refundEntity(refund) : { ...refundEntity(refund), amount: reported };
  }

  private fetchLink(linkId: string): Json {
    const link = this.linkOf(linkId, true);
    return linkEntity(link, link.paymentId === null ? null : this.paymentOf(link.paymentId));
  }

  /** How calls that start a payment are answered under the failure behaviours. */
  private initiating(handler: () => Json): Json | 'hold' {
    if (this.behaviour === 'timeout') return 'hold';
    if (this.behaviour === 'error') throw serverError();
    if (this.behaviour === 'unauthorized') throw authenticationFailed();
    return handler();
  }

  // --- orders and payments -------------------------------------------------------------------

  private createOrder(body: Json): Json {
    checkFields(body, ORDER_FIELDS, ['amount', 'currency']);
    const order: OrderRecord = {
      id: randomId('order'),
      amount: amountFrom(body.amount),
      currency: currencyFrom(body.currency),
      receipt: referenceFrom(body.receipt, 'receipt'),
      notes: notesFrom(body.notes),
      createdAt: nowSec(),
      paymentIds: [],
      amountPaid: 0,
    };
    this.orders.set(order.id, order);
    if (order.receipt !== null) this.attempts.set(order.receipt, { kind: 'order', orderId: order.id });
    return orderEntity(order);
  }

  private listOrders(receipt: string | null): Json {
    const items = [...this.orders.values()]
      .filter((order) => receipt === null || order.receipt === receipt)
      .reverse();
    return { entity: 'collection', count: items.length, items: items.map(orderEntity) };
  }

  private orderPayments(orderId: string): Json {
    const order = this.orderOf(orderId, true);
    const items = order.paymentIds.map((id) => paymentEntity(this.paymentOf(id))).reverse();
    return { entity: 'collection', count: items.length, items };
  }

  private createUpiPayment(body: Json): Json {
    checkFields(body, UPI_PAYMENT_FIELDS, [
      'amount',
      'currency',
      'order_id',
      'method',
      'email',
      'contact',
      ...(this.requireClientFields ? CLIENT_FIELDS : []),
    ]);
    checkClientFields(body);
    if (body.method !== 'upi') throw invalidInput('The selected method is invalid.', 'method');
    const order = this.orders.get(String(body.order_id));
    if (order === undefined) throw invalidInput('The id provided does not exist', 'order_id');
    if (amountFrom(body.amount) !== order.amount || currencyFrom(body.currency) !== order.currency) {
      throw invalidInput(
        'Your payment amount is different from your order amount. To pay successfully, please try using right amount.',
        'amount',
      );
    }
    if (order.amountPaid >= order.amount) throw badRequest('Order has already been paid');
    const upi = asJson(body.upi) ?? {};
    const flow = upi.flow ?? 'collect';
    if (flow !== 'collect' && flow !== 'intent')
      throw invalidInput('The selected upi.flow is invalid.', 'upi.flow');
    const vpa = optionalText(upi.vpa);
    if (flow === 'collect' && (vpa === null || !VPA_PATTERN.test(vpa))) {
      throw invalidInput('Invalid VPA. Please enter a valid Virtual Payment Address', 'vpa');
    }
    const payment = this.createPayment(order, {
      method: 'upi',
      flow,
      vpa,
      email: optionalText(body.email),
      contact: optionalText(body.contact),
      description: optionalText(body.description),
      notes: notesFrom(body.notes),
    });
    return this.answerUpiPayment(payment);
  }

  private answerUpiPayment(payment: PaymentRecord): Json {
    if (this.behaviour === 'decline') {
      this.fail(payment, DECLINE);
      throw new RazorpayError(
        400,
        errorBody(DECLINE.code, DECLINE.description, {
          ...DECLINE,
          metadata: { payment_id: payment.id, order_id: payment.orderId },
        }),
      );
    }
    // 'succeed': the payer approves at once; 'pending': the request waits on their phone.
    if (this.behaviour === 'succeed') this.capture(payment);
    if (payment.flow === 'collect') return { razorpay_payment_id: payment.id };
    const link = upiPaymentLink({
      payeeVpa: PAYEE_VPA,
      payeeName: 'Razorpay Test Merchant',
      reference: payment.id.slice('pay_'.length),
      note: payment.description,
      amountMinor: BigInt(payment.amount),
    });
    return { razorpay_payment_id: payment.id, link };
  }

  private createPayment(
    order: OrderRecord,
    details: Partial<Pick<PaymentRecord, 'vpa' | 'email' | 'contact' | 'description' | 'notes'>> &
      Pick<PaymentRecord, 'method' | 'flow'>,
  ): PaymentRecord {
    const payment: PaymentRecord = {
      id: randomId('pay'),
      orderId: order.id,
      amount: order.amount,
      currency: order.currency,
      vpa: null,
      email: null,
      contact: null,
      description: null,
      notes: {},
      ...details,
      createdAt: nowSec(),
      status: 'created',
      amountRefunded: 0,
      failure: null,
    };
    this.payments.set(payment.id, payment);
    order.paymentIds.push(payment.id);
    return payment;
  }

  private capture(payment: PaymentRecord): void {
    payment.status = 'captured';
    payment.failure = null;
    this.orderOf(payment.orderId).amountPaid = payment.amount;
    for (const link of this.links.values()) {
      if (link.paymentId === payment.id) link.status = 'paid';
    }
  }

  private fail(payment: PaymentRecord, failure: Failure): void {
    payment.status = 'failed';
    payment.failure = failure;
  }

  // --- refunds -------------------------------------------------------------------------------

  private refund(paymentId: string, body: Json, rawBody: string, key: string | string[] | undefined): Json {
    checkFields(body, REFUND_FIELDS, []);
    const payment = this.paymentOf(paymentId);
    const known = this.knownRefund(key, rawBody);
    if (known !== null) return refundEntity(known);
    if (payment.status === 'refunded')
      throw invalidInput('The payment has been fully refunded already.', 'amount');
    if (payment.status !== 'captured') throw badRequest('The payment has not been captured');
    const amount =
      body.amount === undefined ? payment.amount - payment.amountRefunded : amountFrom(body.amount);
    if (amount > payment.amount - payment.amountRefunded) {
      throw invalidInput('The refund amount provided is greater than amount captured.', 'amount');
    }
    const refund: RefundRecord = {
      id: randomId('rfnd'),
      paymentId: payment.id,
      amount,
      currency: payment.currency,
      receipt: optionalText(body.receipt),
      notes: notesFrom(body.notes),
      createdAt: nowSec(),
      status: this.refundsQueued ? 'pending' : 'processed',
    };
    this.refunds.set(refund.id, refund);
    if (typeof key === 'string') this.refundKeys.set(key, { body: rawBody, refundId: refund.id });
    payment.amountRefunded += amount;
    if (payment.amountRefunded === payment.amount) payment.status = 'refunded';
    return refundEntity(refund);
  }

  /** `X-Refund-Idempotency`: the same key and body answer with the first refund. */
  private knownRefund(key: string | string[] | undefined, rawBody: string): RefundRecord | null {
    if (key === undefined) return null;
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw badRequest(
        'The idempotency key must be at least 10 characters long and contain only alphanumeric characters, underscores, and hyphens',
      );
    }
    const seen = this.refundKeys.get(key);
    if (seen === undefined) return null;
    if (seen.body !== rawBody)
      throw badRequest('Different request with the same idempotency key has already been processed.', 409);
    return this.refunds.get(seen.refundId) ?? null;
  }

  // --- payment links -------------------------------------------------------------------------

  private createLink(body: Json): Json {
    checkFields(body, LINK_FIELDS, ['amount']);
    const referenceId = referenceFrom(body.reference_id, 'reference_id');
    if (referenceId !== null && [...this.links.values()].some((link) => link.referenceId === referenceId)) {
      throw badRequest('payment link creation with reference ID already attempted');
    }
    const callbackUrl = optionalText(body.callback_url);
    if (callbackUrl !== null && body.callback_method !== 'get') {
      throw invalidInput('callback_method must be get when callback_url is passed', 'callback_method');
    }
    const amount = amountFrom(body.amount);
    const currency = currencyFrom(body.currency, 'INR');
    const order = this.orderFor(amount, currency);
    const link: LinkRecord = {
      id: randomId('plink'),
      orderId: order.id,
      amount,
      currency,
      referenceId,
      description: optionalText(body.description),
      customer: asJson(body.customer) ?? {},
      notes: notesFrom(body.notes),
      callbackUrl,
      method: checkoutMethodOf(body.options),
      shortUrl: `https://rzp.io/rzp/${randomId('').slice(0, 8)}`,
      createdAt: nowSec(),
      status: 'created',
      paymentId: null,
    };
    this.links.set(link.id, link);
    if (referenceId !== null) this.attempts.set(referenceId, { kind: 'link', linkId: link.id });
    if (this.behaviour === 'succeed') this.capture(this.linkPaymentOf(link));
    return linkEntity(link, link.paymentId === null ? null : this.paymentOf(link.paymentId));
  }

  /** A link's own order, with no receipt of ours (Razorpay makes it behind the link). */
  private orderFor(amount: number, currency: string): OrderRecord {
    const order: OrderRecord = {
      id: randomId('order'),
      amount,
      currency,
      receipt: null,
      notes: {},
      createdAt: nowSec(),
      paymentIds: [],
      amountPaid: 0,
    };
    this.orders.set(order.id, order);
    return order;
  }

  /** The payer's payment on the link's page, made when first needed. */
  private linkPaymentOf(link: LinkRecord): PaymentRecord {
    if (link.paymentId !== null) return this.paymentOf(link.paymentId);
    const payment = this.createPayment(this.orderOf(link.orderId), {
      method: link.method,
      flow: null,
      email: optionalText(link.customer.email),
      contact: optionalText(link.customer.contact),
      description: link.description,
    });
    link.paymentId = payment.id;
    return payment;
  }

  // --- lookups -------------------------------------------------------------------------------

  private attemptOf(attemptId: string): Attempt {
    const attempt = this.attempts.get(attemptId);
    if (attempt === undefined) throw new Error(`Razorpay never saw attempt ${attemptId}`);
    return attempt;
  }

  private orderOf(orderId: string, replyNotFound = false): OrderRecord {
    const order = this.orders.get(orderId);
    if (order !== undefined) return order;
    if (replyNotFound) throw notFound();
    throw new Error(`no order ${orderId}`);
  }

  private refundOf(refundId: string): RefundRecord {
    const refund = this.refunds.get(refundId);
    if (refund === undefined) throw new Error(`no refund ${refundId}`);
    return refund;
  }

  private paymentOf(paymentId: string): PaymentRecord {
    const payment = this.payments.get(paymentId);
    if (payment === undefined) throw notFound();
    return payment;
  }

  private linkOf(linkId: string, replyNotFound = false): LinkRecord {
    const link = this.links.get(linkId);
    if (link !== undefined) return link;
    if (replyNotFound) throw notFound();
    throw new Error(`no payment link ${linkId}`);
  }

  private latestPaymentOf(order: OrderRecord): PaymentRecord | undefined {
    const paymentId = order.paymentIds.at(-1);
    return paymentId === undefined ? undefined : this.payments.get(paymentId);
  }
}

// --- entities, as Razorpay's API reference shows them ------------------------------------------

function orderEntity(order: OrderRecord): Json {
  return {
    id: order.id,
    entity: 'order',
    amount: order.amount,
    amount_paid: order.amountPaid,
    amount_due: order.amount - order.amountPaid,
    currency: order.currency,
    receipt: order.receipt,
    offer_id: null,
    status: order.amountPaid >= order.amount ? 'paid' : order.paymentIds.length > 0 ? 'attempted' : 'created',
    attempts: order.paymentIds.length,
    notes: Object.keys(order.notes).length === 0 ? [] : order.notes,
    created_at: order.createdAt,
  };
}

function paymentEntity(payment: PaymentRecord): Json {
  const { failure } = payment;
  return {
    id: payment.id,
    entity: 'payment',
    amount: payment.amount,
    currency: payment.currency,
    status: payment.status,
    order_id: payment.orderId,
    invoice_id: null,
    international: false,
    method: payment.method,
    amount_refunded: payment.amountRefunded,
    refund_status: payment.amountRefunded === 0 ? null : payment.status === 'refunded' ? 'full' : 'partial',
    captured: payment.status === 'captured' || payment.status === 'refunded',
    description: payment.description,
    card_id: null,
    bank: payment.method === 'netbanking' ? 'HDFC' : null,
    wallet: null,
    vpa: payment.vpa,
    email: payment.email,
    contact: payment.contact,
    notes: Object.keys(payment.notes).length === 0 ? [] : payment.notes,
    fee: payment.status === 'captured' ? Math.ceil(payment.amount * 0.02) : null,
    tax: payment.status === 'captured' ? 0 : null,
    error_code: failure?.code ?? null,
    error_description: failure?.description ?? null,
    error_source: failure?.source ?? null,
    error_step: failure?.step ?? null,
    error_reason: failure?.reason ?? null,
    acquirer_data: payment.method === 'upi' ? { rrn: null } : { bank_transaction_id: null },
    created_at: payment.createdAt,
    ...(payment.method === 'upi' ? { upi: { vpa: payment.vpa, flow: payment.flow } } : {}),
  };
}

function linkEntity(link: LinkRecord, payment: PaymentRecord | null): Json {
  const paid = link.status === 'paid' && payment !== null;
  return {
    accept_partial: false,
    amount: link.amount,
    amount_paid: paid ? link.amount : 0,
    callback_method: link.callbackUrl === null ? '' : 'get',
    callback_url: link.callbackUrl ?? '',
    cancelled_at: 0,
    created_at: link.createdAt,
    currency: link.currency,
    customer: link.customer,
    description: link.description ?? '',
    expire_by: 0,
    expired_at: link.status === 'expired' ? nowSec() : 0,
    first_min_partial_amount: 0,
    id: link.id,
    notes: Object.keys(link.notes).length === 0 ? null : link.notes,
    notify: { email: false, sms: false },
    order_id: link.orderId,
    payments: paid
      ? [
          {
            amount: payment.amount,
            created_at: payment.createdAt,
            method: payment.method,
            payment_id: payment.id,
            plink_id: link.id,
            status: 'captured',
            updated_at: nowSec(),
          },
        ]
      : null,
    reference_id: link.referenceId ?? '',
    reminder_enable: false,
    reminders: [],
    short_url: link.shortUrl,
    status: link.status,
    updated_at: nowSec(),
    upi_link: false,
    user_id: '',
  };
}

function refundEntity(refund: RefundRecord): Json {
  return {
    id: refund.id,
    entity: 'refund',
    amount: refund.amount,
    currency: refund.currency,
    payment_id: refund.paymentId,
    notes: Object.keys(refund.notes).length === 0 ? [] : refund.notes,
    receipt: refund.receipt,
    acquirer_data: { arn: null },
    created_at: refund.createdAt,
    batch_id: null,
    status: refund.status,
    speed_processed: 'normal',
    speed_requested: 'normal',
  };
}

function checkoutMethodOf(options: unknown): 'card' | 'netbanking' {
  const method = asJson(asJson(asJson(options)?.checkout)?.method);
  return method?.netbanking === true && method.card !== true ? 'netbanking' : 'card';
}

/** The body an attacker would send: the amount changed after Razorpay signed it. */
function tampered(body: string): string {
  const changed = body.replace(/"amount":(\d+)/, (_, amount: string) => `"amount":${Number(amount) + 100}`);
  return changed === body ? `${body} ` : changed;
}

function jsonBody(rawBody: string, headers: IncomingMessage['headers']): Json {
  if (rawBody === '') return {};
  if (!(headers['content-type'] ?? '').includes('application/json'))
    throw badRequest('The request body is not valid JSON');
  try {
    const body = asJson(JSON.parse(rawBody));
    if (body !== null) return body;
  } catch {}
  throw badRequest('The request body is not valid JSON');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).length;
    if (bytes > REQUEST_BYTES_MAX) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: Json): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  response.end(JSON.stringify(body));
}

/** The shared API, plus queued refunds and their webhooks. */
export type RazorpayFake = FakeRazorpay;

export async function startRazorpayGateway(options: RazorpayGatewayOptions = {}): Promise<RazorpayFake> {
  const credentials = {
    keyId: `rzp_test_${randomId('')}`,
    keySecret: randomBytes(18).toString('base64url'),
    webhookSecret: randomBytes(18).toString('base64url'),
    ...options.credentials,
  };
  let fake: FakeRazorpay | null = null;
  const server = createServer((request, response) => {
    fake?.handle(request, response).catch((error: unknown) => {
      send(response, 500, errorBody('SERVER_ERROR', error instanceof Error ? error.message : String(error)));
    });
  });
  fake = new FakeRazorpay(server, credentials, options.requireClientFields ?? false);
  await fake.listen();
  return fake;
}
