/** The wire contract module: topic building and parsing round-trip, ids are checked, payloads validated. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GATE_TOPIC_KINDS, GateTopics, SiteTopics, parseTopic } from '../../sync/topics.js';
import { envelopeText, parseCommandResult, parseEventsBatch, parseLookupRequest, parsePayload, parseSyncRequest } from '../../sync/contract.js';
import { isPassgateError } from '../../base/errors.js';

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).filter((s) => !['trust', 'policy', 'lists'].includes(s));

function code(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    return isPassgateError(e) ? e.code : 'OTHER';
  }
}

describe('topics', () => {
  it('builds the §7 topics', () => {
    const t = new GateTopics('hz-east', 'gate-07');
    expect(t.state).toBe('passgate/v1/hz-east/gate-07/state');
    expect(t.eventsAck).toBe('passgate/v1/hz-east/gate-07/events/ack');
    expect(t.siteTopics.list('tokens')).toBe('passgate/v1/hz-east/lists/tokens');
    expect(t.downlink()).toEqual([
      'passgate/v1/hz-east/trust',
      'passgate/v1/hz-east/policy',
      'passgate/v1/hz-east/lists/+',
      'passgate/v1/hz-east/gate-07/sync/res',
      'passgate/v1/hz-east/gate-07/events/ack',
      'passgate/v1/hz-east/gate-07/lookup/res',
      'passgate/v1/hz-east/gate-07/cmd',
    ]);
    expect(new SiteTopics('hz-east').everyGate('events')).toBe('passgate/v1/hz-east/+/events');
  });

  it('parses every topic it builds back to what it was built from', () => {
    fc.assert(
      fc.property(id, id, fc.constantFrom(...GATE_TOPIC_KINDS), (site, gate, kind) => {
        const t = new GateTopics(site, gate);
        expect(parseTopic(t.of(kind))).toEqual({ scope: 'gate', site, gate, kind });
        expect(parseTopic(t.siteTopics.trust)).toEqual({ scope: 'site', site, kind: 'trust' });
        expect(parseTopic(t.siteTopics.list('holders'))).toEqual({ scope: 'site', site, kind: 'list', list: 'holders' });
      }),
    );
  });

  it('refuses ids that are not one safe topic level, and gate ids that collide with site topics', () => {
    for (const bad of ['', 'a/b', '+', '#', 'x'.repeat(65), 'sp ace']) expect(code(() => new GateTopics(bad, 'g'))).toBe('BAD_CONFIG');
    for (const bad of ['trust', 'policy', 'lists', 'a+b']) expect(code(() => new GateTopics('s', bad))).toBe('BAD_CONFIG');
    for (const t of ['other/v1/s/g/state', 'passgate/v1/s/g/nope', 'passgate/v1/s/lists/other', 'passgate/v1/s/g/events/ack/x', 'passgate/v1/s/lists/state']) {
      expect(parseTopic(t)).toBeNull();
    }
  });

  it('validates what arrives', () => {
    // The ack is an envelope (verified by the ingest path): only its size and encoding are checked here.
    expect(parsePayload('events/ack', '{"protected":"x"}')).toBe('{"protected":"x"}');
    expect(code(() => parsePayload('events/ack', Buffer.alloc(5000, 32)))).toBe('BAD_ENCODING');
    expect(parseSyncRequest('{"list":"tokens","have":0}')).toEqual({ list: 'tokens', have: 0 });
    expect(code(() => parseSyncRequest('{"list":"people","have":0}'))).toBe('BAD_ENCODING');
    expect(code(() => parseLookupRequest('{"id":"1","holder":"ABC"}'))).toBe('BAD_ENCODING');
    expect(parseCommandResult('{"jti":"j","ok":false,"error":"EXPIRED"}')).toEqual({ jti: 'j', ok: false, error: 'EXPIRED' });
    expect(code(() => parseCommandResult('{"jti":"j","ok":false}'))).toBe('BAD_ENCODING');
    expect(code(() => parseEventsBatch('{"gate":"g","session":1,"events":[{"seq":0,"id":"x","tsMs":1,"type":"decision"}]}'))).toBe('BAD_ENCODING');
    expect(code(() => envelopeText(Buffer.from([0xff, 0xfe])))).toBe('BAD_ENCODING');
    expect(code(() => envelopeText(''))).toBe('BAD_ENCODING');
  });
});
