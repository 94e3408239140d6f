import type { FastifyRequest } from 'fastify';

const DEPTH_MAX = 4;

/**
 * A `preValidation` hook: text fields of a JSON body are trimmed before the schema checks them,
 * so `"  "` is a missing name rather than a name of two spaces. Not for bodies holding
 * passwords or secrets, whose every character counts.
 */
export async function trimBodyStrings(request: FastifyRequest): Promise<void> {
  request.body = trimStrings(request.body, 0);
}

function trimStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.trim();
  if (depth >= DEPTH_MAX || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => trimStrings(item, depth + 1));
  const object = value as Record<string, unknown>;
  for (const [name, item] of Object.entries(object)) object[name] = trimStrings(item, depth + 1);
  return object;
}
