/**
 * A minimal EU DCC issuer for benchmarks, demos and tests: a self-signed DSC written in DER by hand
 * (Node has no certificate builder) and HC1 codes signed with ES256 or PS256. Gate code never
 * imports this.
 */
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { encode as cborEncode } from 'cborg';
import { base45Encode } from '../../device/core/base45.js';
import { b64uEncode } from '../../device/core/b64u.js';
import { sigStructure } from '../../device/core/cose.js';
import { kidOf } from '../../device/core/crypto/keys.js';
import type { KeyEntry } from '../../device/core/trust.js';

function der(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  const len: number[] = [];
  if (body.length < 0x80) len.push(body.length);
  else {
    for (let v = body.length; v > 0; v >>>= 8) len.unshift(v & 0xff);
    len.unshift(0x80 | len.length);
  }
  return Buffer.concat([Uint8Array.of(tag, ...len), body]);
}
const seq = (...p: Uint8Array[]) => der(0x30, ...p);
const set = (...p: Uint8Array[]) => der(0x31, ...p);
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const b = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return der(0x06, Uint8Array.from(out));
}
const utcTime = (d: Date) => der(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));

/** A self-signed DSC for `pair` (P-256 or RSA), with the given extended key usages (none: no extension). */
export function selfSignedDsc(
  pair: { publicKey: KeyObject; privateKey: KeyObject },
  o: { country?: string; eku?: string[]; serial?: number } = {},
): Buffer {
  const rsa = pair.publicKey.asymmetricKeyType === 'rsa';
  const alg = rsa ? seq(oid('1.2.840.113549.1.1.11'), der(0x05)) : seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.6'), der(0x13, Buffer.from(o.country ?? 'AT')))), set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from('DSC')))));
  const eku = o.eku ?? [];
  const extensions = eku.length ? [der(0xa3, seq(seq(oid('2.5.29.37'), der(0x04, seq(...eku.map(oid))))))] : [];
  const tbs = seq(
    der(0xa0, der(0x02, Uint8Array.of(2))),
    der(0x02, Uint8Array.of(o.serial ?? 1)),
    alg,
    name,
    seq(utcTime(new Date('2021-01-01T00:00:00Z')), utcTime(new Date('2031-01-01T00:00:00Z'))),
    name,
    pair.publicKey.export({ type: 'spki', format: 'der' }),
    ...extensions,
  );
  return seq(tbs, alg, der(0x03, Uint8Array.of(0), sign('sha256', tbs, pair.privateKey)));
}

/** The COSE_Sign1 signature over `Sig_structure`: ES256 in IEEE P1363 form, PS256 with a 32-byte salt. */
export function coseSignature(alg: -7 | -37, key: KeyObject, protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  const tbs = sigStructure(protectedBytes, payload);
  return alg === -7 ? sign('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
}

export interface DccSigner {
  alg: -7 | -37;
  kid: string;
  dsc: Buffer;
  privateKey: KeyObject;
}

/** A P-256 (ES256) or RSA-2048 (PS256) key in a self-signed DSC for `country`. */
export function dccSigner(kind: 'ES256' | 'PS256', country = 'AT', serial = 1): DccSigner {
  const pair = kind === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dsc = selfSignedDsc(pair, { country, serial });
  return { alg: kind === 'ES256' ? -7 : -37, kid: kidOf(dsc), dsc, privateKey: pair.privateKey };
}

/** The trust-bundle form of a DSC. */
export function dscEntry(s: DccSigner): KeyEntry {
  return { kid: s.kid, x5c: b64uEncode(s.dsc) };
}

/** A vaccination DCC as `HC1:` text. */
export function issueDcc(s: DccSigner, c: { iss: string; iat: number; exp: number; uci: string }): string {
  const entry = new Map<string, unknown>([['tg', '840539006'], ['co', 'AT'], ['ci', c.uci]]);
  const dcc = new Map<string, unknown>([
    ['ver', '1.3.0'],
    ['nam', new Map([['fn', 'Musterfrau'], ['gn', 'Gabriele']])],
    ['dob', '1998-02-26'],
    ['v', [entry]],
  ]);
  const payload = cborEncode(new Map<number, unknown>([[1, c.iss], [4, c.exp], [6, c.iat], [-260, new Map([[1, dcc]])]]));
  const protectedBytes = cborEncode(new Map<number, unknown>([[1, s.alg], [4, Buffer.from(s.kid, 'hex')]]));
  const signature = coseSignature(s.alg, s.privateKey, protectedBytes, payload);
  const cose = Buffer.concat([Uint8Array.of(0xd2), cborEncode([protectedBytes, new Map(), payload, signature])]);
  return `HC1:${base45Encode(deflateSync(cose))}`;
}
