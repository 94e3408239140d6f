import { describe, expect, it } from 'vitest';
import { TRANSACTION_CSV_HEADER, transactionCsvLine } from './csv.ts';
import type { TransactionRow } from './transactions.repo.ts';

const ROW: TransactionRow = {
  id: '01960000-0000-7000-8000-000000000001',
  paymentId: 'PAY1773124200000123456789012345',
  qrCodeId: '01960000-0000-7000-8000-000000000002',
  qrId: 'AB12C',
  merchantId: '01960000-0000-7000-8000-000000000003',
  amountMinor: 25050n,
  currency: 'INR',
  status: 'Success',
  utr: 'ABCDEF123456',
  occurredAt: new Date('2026-03-10T06:30:00.000Z'),
  customerName: 'Asha Verma',
  customerPhone: '9876543210',
  customerUpiApp: 'GPay',
  origin: 'manual',
  createdAt: new Date('2026-03-10T06:30:01.250Z'),
  updatedAt: new Date('2026-03-10T07:00:00.000Z'),
};

function lineWithName(customerName: string | null): string {
  return transactionCsvLine({ ...ROW, customerName });
}

/** The customerName field as written: everything between the 7th comma and ",9876543210,GPay,...". */
function nameField(customerName: string): string {
  const line = lineWithName(customerName);
  const prefix =
    'PAY1773124200000123456789012345,AB12C,250.50,INR,Success,ABCDEF123456,2026-03-10T06:30:00.000Z,';
  const suffix = ',9876543210,GPay,manual,2026-03-10T06:30:01.250Z\r\n';
  expect(line.startsWith(prefix)).toBe(true);
  expect(line.endsWith(suffix)).toBe(true);
  return line.slice(prefix.length, line.length - suffix.length);
}

/** A minimal RFC 4180 reader for one record, to check that what we write reads back. */
function parseRecord(line: string): string[] {
  expect(line.endsWith('\r\n')).toBe(true);
  const text = line.slice(0, -2);
  const fields: string[] = [];
  let index = 0;
  while (index <= text.length) {
    if (text[index] === '"') {
      let value = '';
      index++;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote < 0) throw new Error('unterminated quote');
        value += text.slice(index, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          index = quote + 2;
        } else {
          index = quote + 1;
          break;
        }
      }
      fields.push(value);
      if (index < text.length && text[index] !== ',') throw new Error(`junk after quote at ${index}`);
      index++;
    } else {
      const comma = text.indexOf(',', index);
      const end = comma < 0 ? text.length : comma;
      const value = text.slice(index, end);
      if (/[",\r\n]/.test(value)) throw new Error(`unquoted special character in ${JSON.stringify(value)}`);
      fields.push(value);
      index = end + 1;
    }
  }
  return fields;
}

describe('TRANSACTION_CSV_HEADER', () => {
  it('names the twelve columns, CRLF-terminated', () => {
    expect(TRANSACTION_CSV_HEADER).toBe(
      'paymentId,qrId,amount,currency,status,utr,timestamp,customerName,customerPhone,upiApp,origin,createdAt\r\n',
    );
  });
});

describe('transactionCsvLine', () => {
  it('writes a row in column order, amounts in rupees with two decimals, times in ISO UTC, CRLF', () => {
    expect(transactionCsvLine(ROW)).toBe(
      'PAY1773124200000123456789012345,AB12C,250.50,INR,Success,ABCDEF123456,' +
        '2026-03-10T06:30:00.000Z,Asha Verma,9876543210,GPay,manual,2026-03-10T06:30:01.250Z\r\n',
    );
  });

  it('writes null customer details as empty fields', () => {
    expect(
      transactionCsvLine({
        ...ROW,
        amountMinor: 5n,
        status: 'Pending',
        customerName: null,
        customerPhone: null,
        customerUpiApp: null,
        origin: 'simulator',
      }),
    ).toBe(
      'PAY1773124200000123456789012345,AB12C,0.05,INR,Pending,ABCDEF123456,' +
        '2026-03-10T06:30:00.000Z,,,,simulator,2026-03-10T06:30:01.250Z\r\n',
    );
  });

  it('writes whole and large amounts with two decimals', () => {
    expect(transactionCsvLine({ ...ROW, amountMinor: 10000000n }).split(',')[2]).toBe('100000.00');
    expect(transactionCsvLine({ ...ROW, amountMinor: 100n }).split(',')[2]).toBe('1.00');
  });

  it('has as many fields as the header', () => {
    expect(parseRecord(transactionCsvLine(ROW))).toHaveLength(parseRecord(TRANSACTION_CSV_HEADER).length);
  });

  it.each([
    ['a comma', 'Verma, Asha', '"Verma, Asha"'],
    ['double quotes', 'Asha "Ash" Verma', '"Asha ""Ash"" Verma"'],
    ['a line feed', 'Asha\nVerma', '"Asha\nVerma"'],
    ['a CR LF', 'Asha\r\nVerma', '"Asha\r\nVerma"'],
    ['only a quote', '"', '""""'],
  ])('quotes a value with %s', (_label, name, field) => {
    expect(nameField(name)).toBe(field);
  });

  it.each([
    ['=', '=1+2', "'=1+2"],
    ['=', '=HYPERLINK("http://evil.example")', '"\'=HYPERLINK(""http://evil.example"")"'],
    ['+', '+91 98765 43210', "'+91 98765 43210"],
    ['-', '-5', "'-5"],
    ['@', '@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['tab', '\t=1', "'\t=1"],
    ['CR', '\r=1', '"\'\r=1"'],
    ['= with a comma', '=SUM(A1,A2)', '"\'=SUM(A1,A2)"'],
  ])('prefixes a value starting with %s by an apostrophe', (_label, name, field) => {
    expect(nameField(name)).toBe(field);
  });

  it.each(['Asha = Verma', 'a+b', 'Ram-Lal', 'mail@example.com', "O'Brien", ' =1'])(
    'leaves %j alone when nothing dangerous leads it',
    (name) => {
      expect(nameField(name)).toBe(name);
    },
  );

  it('reads back, field by field, with an RFC 4180 parser', () => {
    const name = 'Verma, "Asha"\r\nline two';
    const fields = parseRecord(lineWithName(name));
    expect(fields).toEqual([
      'PAY1773124200000123456789012345',
      'AB12C',
      '250.50',
      'INR',
      'Success',
      'ABCDEF123456',
      '2026-03-10T06:30:00.000Z',
      name,
      '9876543210',
      'GPay',
      'manual',
      '2026-03-10T06:30:01.250Z',
    ]);
    expect(parseRecord(lineWithName('=cmd|" /C calc"!A0'))[7]).toBe('\'=cmd|" /C calc"!A0');
  });
});
