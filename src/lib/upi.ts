import { formatMajorUnits, type MinorUnits } from './money.ts';

/** NPCI's UPI deep-link parameters for a static or fixed-amount QR code. */
export interface UpiPaymentRequest {
  /** Payee VPA, e.g. `shop@okaxis`. */
  readonly payeeVpa: string;
  readonly payeeName: string;
  /** Transaction reference: our qrId, echoed back by the payer's app. */
  readonly reference: string;
  readonly note?: string | null;
  /** Set only for a fixed-amount request; otherwise the payer types the amount. */
  readonly amountMinor?: MinorUnits | null;
  readonly currency?: 'INR';
}

/**
 * `upi://pay?pa=..&pn=..&tr=..&tn=..&am=..&cu=INR`, each value percent-encoded.
 */
export function upiPaymentLink(request: UpiPaymentRequest): string {
  const parameters: [string, string][] = [
    ['pa', request.payeeVpa],
    ['pn', request.payeeName],
    ['tr', request.reference],
  ];
  if (request.note !== undefined && request.note !== null && request.note !== '') {
    parameters.push(['tn', request.note]);
  }
  if (request.amountMinor !== undefined && request.amountMinor !== null) {
    parameters.push(['am', formatMajorUnits(request.amountMinor)]);
  }
  parameters.push(['cu', request.currency ?? 'INR']);
  const query = parameters.map(([name, value]) => `${name}=${encodeUpiValue(value)}`).join('&');
  return `upi://pay?${query}`;
}

/**
 * encodeURIComponent (a space is `%20`, never `+`, which some UPI apps show literally), except
 * that `@` stays as it is: it is legal in a query (RFC 3986 pchar) and some UPI apps fail to
 * decode `%40` in the payee address.
 */
function encodeUpiValue(value: string): string {
  return encodeURIComponent(value).replaceAll('%40', '@');
}
