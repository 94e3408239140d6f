/**
 * What every local gateway imitation (`razorpay-server.ts`, `payu-server.ts`, `paytm-server.ts`)
 * offers a test: where it listens, the credentials to store on the gateway record, how it answers
 * initiate calls, what it received, signed webhooks as the real gateway would send them, and the
 * refunds it queued, which a test settles (or gives any status) for the refund status API to report.
 */

export type FakeBehaviour = 'succeed' | 'pending' | 'decline' | 'error' | 'timeout' | 'unauthorized';

/** How the refund status API answers: as the gateway would, with its outage reply (5xx), or never. */
export type FakeRefundStatusBehaviour = 'answer' | 'error' | 'timeout';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SignedWebhook {
  body: string;
  headers: Record<string, string>;
}

export interface FakeGateway {
  readonly baseUrl: string;
  readonly credentials: Record<string, string>;
  /** How initiate calls are answered from now on ('timeout' holds them until close). */
  behaviour: FakeBehaviour;
  readonly requests: RecordedRequest[];
  /** The gateway's payment for our attempt id, if initiate reached it (status in the gateway's words). */
  paymentFor(
    attemptId: string,
  ): { gatewayReference: string; status: string; amountMinor: bigint } | undefined;
  /** Settles that payment at the gateway (what its status API then reports). */
  settle(attemptId: string, outcome: 'succeeded' | 'failed'): void;
  /**
   * A webhook for that payment, signed with the gateway's scheme. `tamper` changes the body after
   * signing; `eventId` reuses an id (a replay); `ageSec` makes its timestamp that old.
   */
  webhookFor(
    attemptId: string,
    status: 'succeeded' | 'failed' | 'pending',
    options?: { tamper?: boolean; eventId?: string; ageSec?: number },
  ): SignedWebhook;
  /** How refund status calls are answered from now on ('timeout' holds them until close). */
  refundStatusBehaviour: FakeRefundStatusBehaviour;
  /**
   * Settles a refund the gateway queued, named by the reference its refund reply gave (Razorpay's
   * refund id, PayU's request_id, Paytm's refundId): its refund status API reports it from now on.
   */
  settleRefund(refundReference: string, outcome: 'succeeded' | 'failed'): void;
  /** Makes the refund status API report this status, in the gateway's own words, known or not. */
  setRefundStatus(refundReference: string, status: string): void;
  close(): Promise<void>;
}
