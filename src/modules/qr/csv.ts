import { formatMajorUnits } from '../../lib/money.ts';
import type { TransactionRow } from './transactions.repo.ts';

const COLUMNS = [
  'paymentId',
  'qrId',
  'amount',
  'currency',
  'status',
  'utr',
  'timestamp',
  'customerName',
  'customerPhone',
  'upiApp',
  'origin',
  'createdAt',
] as const;

export const TRANSACTION_CSV_HEADER = `${COLUMNS.join(',')}\r\n`;

/** One CSV record (RFC 4180, CRLF). Amounts in rupees with two decimals, times in ISO-8601 UTC. */
export function transactionCsvLine(row: TransactionRow): string {
  const fields = [
    row.paymentId,
    row.qrId,
    formatMajorUnits(row.amountMinor),
    row.currency,
    row.status,
    row.utr,
    row.occurredAt.toISOString(),
    row.customerName,
    row.customerPhone,
    row.customerUpiApp,
    row.origin,
    row.createdAt.toISOString(),
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * Quoted when needed; text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
 * CR) is prefixed with `'`, since customer names come from outside (OWASP CSV injection).
 */
function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
