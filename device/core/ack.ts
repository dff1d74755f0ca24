/**
 * The backend's events ack (§7, revision 2): a `passgate-ack+json` envelope signed by a key in
 * `signers.lists`, naming the gate it is for. Whoever can publish on the broker must not be able to
 * delete a gate's events, so an ack counts only once its envelope verified and its `aud` is this gate;
 * that `upTo` is not above the last seq assigned is the store's to check.
 */
import { compileSchema } from './schema.js';
import { PassgateError } from '../../base/errors.js';

export interface EventsAck {
  /** `<site>/<gate>`. */
  aud: string;
  /** The backend has stored every event up to this seq. */
  upTo: number;
  /** When the backend signed it (epoch seconds). */
  iat: number;
}

const validateAck = compileSchema<EventsAck>('events ack', {
  type: 'object',
  required: ['aud', 'upTo', 'iat'],
  properties: {
    aud: { type: 'string', minLength: 3, maxLength: 129 },
    upTo: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    iat: { type: 'integer', minimum: 0 },
  },
});

/** `<site>/<gate>`: the audience of commands and acks (gate ids repeat across sites). */
export function audienceOf(identity: { site: string; gate: string }): string {
  return `${identity.site}/${identity.gate}`;
}

/** Validates a verified ack payload and its audience. */
export function checkAck(payload: unknown, audience: string): EventsAck {
  const ack = validateAck(payload);
  if (ack.aud !== audience) throw new PassgateError('WRONG_AUDIENCE', `ack for ${ack.aud}, this is ${audience}`);
  return ack;
}
