/**
 * Expected failures, with stable codes clients branch on. The error handler maps them to HTTP;
 * anything else that escapes a handler is a bug and answers 500.
 */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export const badRequest = (message: string, details?: unknown, code = 'BAD_REQUEST') =>
  new AppError(400, code, message, details);
export const validationFailed = (message: string, details?: readonly FieldProblem[]) =>
  new AppError(400, 'VALIDATION_FAILED', message, details);
/** A 400 naming one field: `{ field, message }` in the details, as schema violations have. */
export const invalidField = (field: string, message: string) =>
  validationFailed(`${field} ${message}`, [{ field, message }]);
export const unauthorized = (message = 'Authentication required', code = 'UNAUTHORIZED') =>
  new AppError(401, code, message);
export const forbidden = (message = 'You are not allowed to do this', code = 'FORBIDDEN') =>
  new AppError(403, code, message);
/** Also the answer for another tenant's resource: its existence is not disclosed. */
export const notFound = (what: string, code = 'NOT_FOUND') => new AppError(404, code, `${what} not found`);
export const conflict = (code: string, message: string, details?: unknown) =>
  new AppError(409, code, message, details);
export const unprocessable = (code: string, message: string, details?: unknown) =>
  new AppError(422, code, message, details);
export const tooManyRequests = (retryAfterSec: number, message: string, code = 'RATE_LIMITED') =>
  new AppError(
    429,
    code,
    message,
    { retryAfterSec },
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))) },
  );
export const serviceUnavailable = (message: string, code = 'SERVICE_UNAVAILABLE') =>
  new AppError(503, code, message);
