import QRCode from 'qrcode';

export type QrImageFormat = 'png' | 'svg';

/** Quiet zone of four modules, as the QR standard asks, so every scanner finds the code. */
const QUIET_ZONE_MODULES = 4;

/**
 * Renders a UPI link as a QR image. Error correction M (15%) survives a crease or a smudge on
 * a printed counter card while keeping modules large enough for cheap phone cameras.
 */
export async function renderQrImage(
  payload: string,
  format: QrImageFormat,
  sizePx: number,
): Promise<Buffer | string> {
  const options = { errorCorrectionLevel: 'M' as const, margin: QUIET_ZONE_MODULES, width: sizePx };
  return format === 'png'
    ? QRCode.toBuffer(payload, { ...options, type: 'png' })
    : QRCode.toString(payload, { ...options, type: 'svg' });
}
