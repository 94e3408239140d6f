/**
 * What every local gateway imitation (`razorpay-server.ts`, `payu-server.ts`, `paytm-server.ts`)
 * offers a test: where it listens, the credentials to store on the gateway record, how it answers
 * initiate calls, what it received, and signed webhooks as the real gateway would send them.
 */

export type FakeBehaviour = 'succeed' | 'pending' | 'decline' | 'error' | 'timeout' | 'unauthorized';

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
  close(): Promise<void>;
}
