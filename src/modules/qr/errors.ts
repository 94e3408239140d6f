import { AppError, conflict, forbidden, notFound, unprocessable } from '../../http/errors.ts';

export const qrCodeNotFound = () => notFound('QR code', 'QR_NOT_FOUND');
export const transactionNotFound = () => notFound('Transaction', 'TRANSACTION_NOT_FOUND');
export const qrIdTaken = (qrId: string) => conflict('QR_ID_TAKEN', `QR code ${qrId} already exists`);
export const qrInactive = (qrId: string) =>
  conflict('QR_INACTIVE', `QR code ${qrId} is Inactive; activate it first`);
export const utrTaken = (utr: string) =>
  conflict('DUPLICATE_UTR', `A transaction with UTR ${utr} already exists`);
export const amountAboveMax = (maxAmount: string) =>
  unprocessable('AMOUNT_ABOVE_MAX', `Amount is above this QR code's maximum of ${maxAmount} rupees`);
export const simulationLimitReached = (qrId: string, limit: number) =>
  conflict('SIMULATION_LIMIT_REACHED', `QR code ${qrId} already has ${limit} simulated transactions`);
export const invalidStatusTransition = (from: string, to: string) =>
  new AppError(409, 'INVALID_STATUS_TRANSITION', `A ${from} transaction cannot become ${to}`, { from, to });
export { invalidField } from '../../http/errors.ts';
export const simulatorDisabled = () =>
  forbidden('The payment simulator is disabled on this server (SIMULATOR_ENABLED)', 'SIMULATOR_DISABLED');
