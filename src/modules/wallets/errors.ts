import { AppError, conflict, forbidden, notFound, unprocessable } from '../../http/errors.ts';

export { invalidField } from '../../http/errors.ts';
export const selfTransfer = () => unprocessable('SELF_TRANSFER', 'You cannot transfer to yourself');
export const recipientNotFound = () => notFound('Recipient', 'RECIPIENT_NOT_FOUND');
export const untrustedDeposit = () =>
  forbidden(
    'In production only an admin (or a confirmed payment) may credit a wallet',
    'DEPOSIT_NOT_ALLOWED',
  );
export const duplicateReference = (reference: string) =>
  conflict('DUPLICATE_REFERENCE', `A deposit with reference ${reference} was already credited`);
export const withdrawalNotFound = () => notFound('Withdrawal', 'WITHDRAWAL_NOT_FOUND');
export const withdrawalNotPending = (status: string) =>
  new AppError(409, 'WITHDRAWAL_NOT_PENDING', `The withdrawal is ${status}`);
