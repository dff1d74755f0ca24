/**
 * A federation of issuers as the reference backend holds it: one root, three provincial issuers
 * (one per signature algorithm), envelope signers and the holder key. Kept as key files in a folder.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { b64uEncode } from '../../device/core/b64u.js';
import type { Policy } from '../../device/core/types.js';
import { generateKey, keyEntry, loadKey, newHolderKey, signEnvelope, trustBundle, type KeyFile, type SigningAlg, type SigningKey } from './issuer.js';

export interface FederationFile {
  root: KeyFile;
  issuers: { id: string; name: string; key: KeyFile }[];
  signers: { policy: KeyFile; lists: KeyFile; commands: KeyFile };
  holderKey: string;
}

export const DEMO_ISSUERS: readonly { id: string; name: string; alg: SigningAlg }[] = [
  { id: 'CN-330000', name: '浙江省', alg: 'ES256' },
  { id: 'CN-110000', name: '北京市', alg: 'EdDSA' },
  { id: 'CN-440000', name: '广东省', alg: 'SM2SM3' },
];

export class Federation {
  readonly root: SigningKey;
  readonly issuers: ReadonlyMap<string, { id: string; name: string; key: SigningKey }>;
  readonly policySigner: SigningKey;
  readonly listSigner: SigningKey;
  readonly commandSigner: SigningKey;
  readonly holderKey: string;

  constructor(readonly file: FederationFile) {
    this.root = loadKey(file.root);
    this.issuers = new Map(file.issuers.map((i) => [i.id, { id: i.id, name: i.name, key: loadKey(i.key) }]));
    this.policySigner = loadKey(file.signers.policy);
    this.listSigner = loadKey(file.signers.lists);
    this.commandSigner = loadKey(file.signers.commands);
    this.holderKey = file.holderKey;
  }

  static create(rootAlg: SigningAlg = 'ES256'): Federation {
    return new Federation({
      root: generateKey(rootAlg).file,
      issuers: DEMO_ISSUERS.map((i) => ({ id: i.id, name: i.name, key: generateKey(i.alg).file })),
      signers: { policy: generateKey('ES256').file, lists: generateKey('ES256').file, commands: generateKey('EdDSA').file },
      holderKey: newHolderKey(),
    });
  }

  static load(dir: string): Federation {
    return new Federation(JSON.parse(readFileSync(join(dir, 'federation.json'), 'utf8')) as FederationFile);
  }

  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'federation.json'), JSON.stringify(this.file, null, 2), { mode: 0o600 });
  }

  issuer(id: string): SigningKey {
    const i = this.issuers.get(id);
    if (!i) throw new Error(`no issuer ${id} in this federation (${[...this.issuers.keys()].join(', ')})`);
    return i.key;
  }

  rootSpki(): string {
    return b64uEncode(this.root.spki);
  }

  trustEnvelope(version: number, issuedAt: number, lifetimeSeconds = 7 * 86400): string {
    const bundle = trustBundle({
      version,
      issuedAt,
      expiresAt: issuedAt + lifetimeSeconds,
      issuers: [...this.issuers.values()].map((i) => ({ id: i.id, name: i.name, keys: [keyEntry(i.key)] })),
      signers: { policy: [this.policySigner], lists: [this.listSigner], commands: [this.commandSigner] },
      holderKey: this.holderKey,
    });
    return signEnvelope(this.root, 'passgate-trust+json', bundle);
  }

  policyEnvelope(policy: Partial<Policy> & { version: number }): string {
    return signEnvelope(this.policySigner, 'passgate-policy+json', policy);
  }
}
