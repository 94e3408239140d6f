import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Paytm's checksum ("PaytmChecksum", the same in its Java, PHP, Node and Python kits): the SHA-256
 * hex of `<text>|<salt>` with the 4-character salt appended, AES-128-CBC encrypted under the
 * merchant key with a fixed IV, in base64. Verifying decrypts, reads the salt off the end and
 * recomputes. JSON APIs sign `JSON.stringify(body)`; form posts (webhooks, the browser callback)
 * sign their fields sorted by name, values joined with `|`.
 */

/** Fixed by Paytm in every kit: the IV carries no secret, the merchant key does. */
const PAYTM_IV = Buffer.from('@@@@&&&&####$$$$', 'latin1');
/** AES-128: Paytm issues 16-character merchant keys and the kits use them as the key bytes. */
const MERCHANT_KEY_BYTES = 16;
/** Three random bytes are four base64 characters, the salt length every kit reads back. */
const SALT_RANDOM_BYTES = 3;
const SALT_LENGTH = 4;
const SHA256_HEX_LENGTH = 64;

/** The form field that carries the checksum; it is never part of what it signs. */
export const CHECKSUM_FIELD = 'CHECKSUMHASH';

export function isUsableMerchantKey(merchantKey: string): boolean {
  return Buffer.byteLength(merchantKey, 'utf8') === MERCHANT_KEY_BYTES;
}

/** The checksum of `text` (a JSON API's `JSON.stringify(body)`) under the merchant key. */
export function generateSignature(text: string, merchantKey: string, salt: string = randomSalt()): string {
  if (salt.length !== SALT_LENGTH) throw new Error(`a Paytm salt is ${SALT_LENGTH} characters`);
  if (!isUsableMerchantKey(merchantKey))
    throw new Error(`a Paytm merchant key is ${MERCHANT_KEY_BYTES} bytes`);
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(merchantKey, 'utf8'), PAYTM_IV);
  const hash = saltedHash(text, salt);
  return Buffer.concat([cipher.update(hash, 'latin1'), cipher.final()]).toString('base64');
}

/** Whether `checksum` signs `text` under the merchant key; false for anything unreadable. */
export function verifySignature(text: string, merchantKey: string, checksum: string): boolean {
  if (!isUsableMerchantKey(merchantKey) || checksum.length === 0) return false;
  const decrypted = decrypt(checksum, merchantKey);
  if (decrypted === null || decrypted.length !== SHA256_HEX_LENGTH + SALT_LENGTH) return false;
  const expected = Buffer.from(
    saltedHash(text, decrypted.subarray(-SALT_LENGTH).toString('latin1')),
    'latin1',
  );
  return timingSafeEqual(decrypted, expected);
}

/**
 * What a form post's checksum signs: every field but the checksum, sorted by name (code-unit
 * order, as the kits' `sort()`), values joined with `|`. A value "null" (any case) counts as empty,
 * as Paytm's Java and PHP kits (and the older Node kit) treat it.
 */
export function paramsSigningText(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((name) => name !== CHECKSUM_FIELD)
    .sort()
    .map((name) => {
      const value = params[name] ?? '';
      return value.toLowerCase() === 'null' ? '' : value;
    })
    .join('|');
}

export function generateParamsSignature(
  params: Readonly<Record<string, string>>,
  merchantKey: string,
  salt?: string,
): string {
  return generateSignature(paramsSigningText(params), merchantKey, salt);
}

export function verifyParamsSignature(
  params: Readonly<Record<string, string>>,
  merchantKey: string,
  checksum: string,
): boolean {
  return verifySignature(paramsSigningText(params), merchantKey, checksum);
}

function saltedHash(text: string, salt: string): string {
  return createHash('sha256').update(`${text}|${salt}`, 'utf8').digest('hex') + salt;
}

function decrypt(checksum: string, merchantKey: string): Buffer | null {
  try {
    const decipher = createDecipheriv('aes-128-cbc', Buffer.from(merchantKey, 'utf8'), PAYTM_IV);
    return Buffer.concat([decipher.update(Buffer.from(checksum, 'base64')), decipher.final()]);
  } catch {
    // Bad padding or a length that is no whole block: garbled, or made under another key.
    return null;
  }
}

function randomSalt(): string {
  return randomBytes(SALT_RANDOM_BYTES).toString('base64');
}
