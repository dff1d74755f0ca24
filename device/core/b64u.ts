/** base64url without padding (RFC 4648 §5), strict: anything else is rejected, not guessed at. */
const B64U = /^[A-Za-z0-9_-]*$/;

export function b64uDecode(text: string): Buffer | null {
  if (!B64U.test(text) || text.length % 4 === 1) return null;
  return Buffer.from(text, 'base64url');
}

export function b64uEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
