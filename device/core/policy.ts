/** Policy (§6): the defaults a gate uses before any signed policy, and validation of a signed one. */
import type { Policy } from './types.js';
import { compileSchema } from './schema.js';

const defaults: Policy = {
  version: 0,
  status: { green: 'open', yellow: 'staff', red: 'deny' },
  dcc: 'open',
  unknownHolder: 'online',
  lookupTimeoutMs: 800,
  staleTrust: 'staff',
  clockUntrusted: 'staff',
  maxClockSkewSeconds: 300,
  antiPassbackSeconds: 20,
  acceptFormats: ['HP1', 'HC1', 'IDCARD'],
  acceptIssuers: ['*'],
  listMaxAgeSeconds: 86400,
  pulseMs: 300,
};
export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze(defaults);

const action = { enum: ['open', 'deny', 'staff'] };
const seconds = (max: number) => ({ type: 'integer', minimum: 0, maximum: max });

/** Fields a signed policy leaves out take the defaults above (documented in docs/protocol-extensions.md). */
const validatePolicy = compileSchema<Partial<Policy> & { version: number }>('policy', {
  type: 'object',
  required: ['version'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    status: {
      type: 'object',
      required: ['green', 'yellow', 'red'],
      properties: { green: action, yellow: action, red: action },
    },
    dcc: action,
    unknownHolder: { enum: ['open', 'deny', 'staff', 'online'] },
    lookupTimeoutMs: { type: 'integer', minimum: 50, maximum: 10000 },
    staleTrust: action,
    clockUntrusted: action,
    maxClockSkewSeconds: seconds(86400),
    antiPassbackSeconds: seconds(86400),
    acceptFormats: { type: 'array', items: { enum: ['HP1', 'HC1', 'IDCARD'] }, uniqueItems: true },
    acceptIssuers: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 32 }, uniqueItems: true },
    listMaxAgeSeconds: { type: 'integer', minimum: 60, maximum: 365 * 86400 },
    pulseMs: { type: 'integer', minimum: 50, maximum: 5000 },
  },
});

export function parsePolicy(payload: unknown): Policy {
  const p = validatePolicy(payload);
  return { ...DEFAULT_POLICY, ...p, status: { ...DEFAULT_POLICY.status, ...p.status } };
}

export function issuerAccepted(policy: Policy, issuer: string): boolean {
  return policy.acceptIssuers.includes('*') || policy.acceptIssuers.includes(issuer);
}

