import type { Db } from '../../src/db/database.ts';

export interface Scenario {
  readonly name: string;
  /** Runs once before the scenario, e.g. to load its data set. */
  readonly prepare?: () => Promise<void>;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Record<string, string>;
  /** JSON request body, sent with every request (unless nextRequest gives one). */
  readonly body?: string;
  /** Per request: headers and body that differ each time (an Idempotency-Key, a random payee). */
  readonly nextRequest?: () => { headers?: Record<string, string>; body?: string };
  readonly fixedRate: number;
  /** The SQL the endpoint runs, issued straight on the pool: the ceiling to compare against. */
  readonly baseline?: (db: Db) => Promise<unknown>;
}

/** A merchant registered through the API, as a bench scenario's caller. */
export async function registerMerchant(
  baseUrl: string,
  name: string,
  email: string,
): Promise<{ accessToken: string; user: { id: string; merchantId: string } }> {
  const registered = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, email, password: 'bench-password', role: 'merchant' }),
  });
  if (registered.status !== 201) throw new Error(`registering a bench merchant: ${registered.status}`);
  return (
    (await registered.json()) as { data: { accessToken: string; user: { id: string; merchantId: string } } }
  ).data;
}
