import { AppError, notFound, unprocessable } from '../../http/errors.ts';

export const insufficientFunds = (message = 'Not enough available balance for this payment') =>
  unprocessable('INSUFFICIENT_FUNDS', message);
export const accountNotOpen = (message = 'The account is frozen or closed') =>
  unprocessable('ACCOUNT_NOT_OPEN', message);
export const holdNotFound = () => notFound('Hold', 'HOLD_NOT_FOUND');
export const holdNotActive = (status: string) =>
  new AppError(
    409,
    'HOLD_NOT_ACTIVE',
    `The hold is ${status}; only an active hold can be captured or voided`,
  );
export const captureAboveHold = (remainingMinor: bigint) =>
  unprocessable('CAPTURE_EXCEEDS_HOLD', `Only ${remainingMinor} minor units of the hold remain`);

/**
 * `ledger_post` refuses with P0001 and a message starting with a stable code. The expected
 * refusals become AppErrors; the rest (an unbalanced entry, an unknown account) are bugs in the
 * caller that built the entry, and stay errors (500).
 */
export function ledgerRefusal(error: unknown): AppError | null {
  const pgError = error as { code?: string; message?: string };
  if (pgError.code !== 'P0001' || typeof pgError.message !== 'string') return null;
  const [code] = pgError.message.split(':');
  if (code === 'INSUFFICIENT_FUNDS') return insufficientFunds();
  if (code === 'ACCOUNT_NOT_OPEN') return accountNotOpen();
  return null;
}
