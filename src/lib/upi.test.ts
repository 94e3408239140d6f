import { describe, expect, it } from 'vitest';
import { upiPaymentLink } from './upi.ts';

function queryOf(link: string): URLSearchParams {
  expect(link.startsWith('upi://pay?')).toBe(true);
  return new URLSearchParams(link.slice('upi://pay?'.length));
}

describe('upiPaymentLink', () => {
  it('builds a static link without note or amount', () => {
    expect(
      upiPaymentLink({ payeeVpa: 'shop@okaxis', payeeName: 'Sharma General Store', reference: 'AB12C' }),
    ).toBe('upi://pay?pa=shop@okaxis&pn=Sharma%20General%20Store&tr=AB12C&cu=INR');
  });

  it('puts the parameters in the order pa, pn, tr, tn, am, cu', () => {
    const link = upiPaymentLink({
      payeeVpa: 'flat.101-rent_2@ybl',
      payeeName: 'Flat 101',
      reference: 'R0001',
      note: 'Rent for March',
      amountMinor: 2500000n,
    });
    expect(link).toBe(
      'upi://pay?pa=flat.101-rent_2@ybl&pn=Flat%20101&tr=R0001&tn=Rent%20for%20March&am=25000.00&cu=INR',
    );
    expect([...queryOf(link).keys()]).toEqual(['pa', 'pn', 'tr', 'tn', 'am', 'cu']);
  });

  it.each([
    ['null', null],
    ['empty', ''],
    ['undefined', undefined],
  ])('leaves tn out when the note is %s', (_label, note) => {
    expect(upiPaymentLink({ payeeVpa: 'a1@upi', payeeName: 'A', reference: 'Q1234', note })).toBe(
      'upi://pay?pa=a1@upi&pn=A&tr=Q1234&cu=INR',
    );
  });

  it('leaves am out when there is no fixed amount', () => {
    expect(
      upiPaymentLink({
        payeeVpa: 'a1@upi',
        payeeName: 'A',
        reference: 'Q1234',
        note: 'Fee',
        amountMinor: null,
      }),
    ).toBe('upi://pay?pa=a1@upi&pn=A&tr=Q1234&tn=Fee&cu=INR');
  });

  it.each([
    [25000n, '250.00'],
    [25010n, '250.10'],
    [5n, '0.05'],
    [100n, '1.00'],
    [10000000n, '100000.00'],
  ])('writes an amount of %s paise as am=%s', (amountMinor, text) => {
    const link = upiPaymentLink({ payeeVpa: 'a1@upi', payeeName: 'A', reference: 'Q1234', amountMinor });
    expect(link).toBe(`upi://pay?pa=a1@upi&pn=A&tr=Q1234&am=${text}&cu=INR`);
  });

  it('encodes a space as %20, never +, and encodes a literal + as %2B', () => {
    const link = upiPaymentLink({ payeeVpa: 'a1@upi', payeeName: 'A + B Traders', reference: 'Q1234' });
    expect(link).toBe('upi://pay?pa=a1@upi&pn=A%20%2B%20B%20Traders&tr=Q1234&cu=INR');
    expect(link).not.toContain('+');
    expect(link).not.toContain(' ');
    expect(queryOf(link).get('pn')).toBe('A + B Traders');
  });

  it('keeps @ literally, in the VPA and in other values', () => {
    const link = upiPaymentLink({
      payeeVpa: 'merchant.name@okhdfcbank',
      payeeName: 'Tea @ Stall',
      reference: 'T0001',
      note: 'mail me@example.com',
    });
    expect(link).toBe(
      'upi://pay?pa=merchant.name@okhdfcbank&pn=Tea%20@%20Stall&tr=T0001&tn=mail%20me@example.com&cu=INR',
    );
    expect(link).not.toContain('%40');
  });

  it('encodes &, =, #, ? and % so they cannot break the query', () => {
    const link = upiPaymentLink({
      payeeVpa: 'a1@upi',
      payeeName: 'A&B=C #1?',
      reference: 'Q1234',
      note: '50% off & more=yes',
    });
    expect(link).toBe(
      'upi://pay?pa=a1@upi&pn=A%26B%3DC%20%231%3F&tr=Q1234&tn=50%25%20off%20%26%20more%3Dyes&cu=INR',
    );
  });

  it('encodes unicode as UTF-8 percent escapes', () => {
    const link = upiPaymentLink({ payeeVpa: 'a1@upi', payeeName: 'चाय ☕ Café', reference: 'Q1234' });
    expect(link).toBe(
      'upi://pay?pa=a1@upi&pn=%E0%A4%9A%E0%A4%BE%E0%A4%AF%20%E2%98%95%20Caf%C3%A9&tr=Q1234&cu=INR',
    );
  });

  it('round-trips awkward values through URLSearchParams', () => {
    const request = {
      payeeVpa: 'odd.name-1_x@ok-bank.in',
      payeeName: 'R&D = "Lab" #7? 100%40 off + tax; a/b\\c\'s (ok) ~*!',
      reference: 'Z9Z9Z',
      note: 'Line one\nLine two\ttabbed · नमस्ते 😀 %2B %40 @@',
      amountMinor: 9999999n,
    };
    const query = queryOf(upiPaymentLink(request));
    expect(Object.fromEntries(query)).toEqual({
      pa: request.payeeVpa,
      pn: request.payeeName,
      tr: request.reference,
      tn: request.note,
      am: '99999.99',
      cu: 'INR',
    });
  });
});
