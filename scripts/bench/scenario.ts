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
