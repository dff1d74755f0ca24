/**
 * The MQTT topics of §7: every topic string is built and parsed here; nothing else in the tree
 * concatenates topic levels. What travels on each topic, and its parser, is sync/contract.ts.
 *
 *   R = passgate/v1/{site}/{gate}   (one gate)
 *   S = passgate/v1/{site}          (every gate of a site)
 */
import { PassgateError } from '../base/errors.js';
import { LIST_NAMES, type ListName } from '../device/core/types.js';

export const TOPIC_ROOT = 'passgate/v1';

/** Site and gate ids become topic levels: no wildcards, separators or empties. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Gate ids that would collide with a site-wide topic (`S/trust`, `S/policy`, `S/lists/+`): a gate
 * named `lists` would receive its own `R/state` on `S/lists/+`.
 */
export const RESERVED_GATE_IDS: readonly string[] = ['trust', 'policy', 'lists'];

/** The per-gate topics, as the suffix after `R/`. */
export const GATE_TOPIC_KINDS = [
  'state',
  'status',
  'events',
  'events/ack',
  'sync/req',
  'sync/res',
  'lookup/req',
  'lookup/res',
  'cmd',
  'cmd/res',
] as const;
export type GateTopicKind = (typeof GATE_TOPIC_KINDS)[number];

export type ParsedTopic =
  | { scope: 'site'; site: string; kind: 'trust' | 'policy' }
  | { scope: 'site'; site: string; kind: 'list'; list: ListName }
  | { scope: 'gate'; site: string; gate: string; kind: GateTopicKind };

export function checkSiteId(site: string): string {
  if (!ID_PATTERN.test(site)) throw new PassgateError('BAD_CONFIG', `site id ${JSON.stringify(site)} must be 1–64 of A-Z a-z 0-9 _ -`);
  return site;
}

export function checkGateId(gate: string): string {
  if (!ID_PATTERN.test(gate)) throw new PassgateError('BAD_CONFIG', `gate id ${JSON.stringify(gate)} must be 1–64 of A-Z a-z 0-9 _ -`);
  if (RESERVED_GATE_IDS.includes(gate)) throw new PassgateError('BAD_CONFIG', `gate id ${gate} is reserved (${RESERVED_GATE_IDS.join(', ')})`);
  return gate;
}

/** Site-wide topics (`S/…`), and wildcards over a site's gates for the backend. */
export class SiteTopics {
  readonly root: string;
  readonly trust: string;
  readonly policy: string;
  /** `S/lists/+` */
  readonly listsWildcard: string;

  constructor(readonly site: string) {
    this.root = `${TOPIC_ROOT}/${checkSiteId(site)}`;
    this.trust = `${this.root}/trust`;
    this.policy = `${this.root}/policy`;
    this.listsWildcard = `${this.root}/lists/+`;
  }

  list(list: ListName): string {
    return `${this.root}/lists/${list}`;
  }

  /** `S/+/{kind}`: that topic of every gate of the site. */
  everyGate(kind: GateTopicKind): string {
    return `${this.root}/+/${kind}`;
  }

  gate(gate: string): GateTopics {
    return new GateTopics(this.site, gate);
  }
}

/** One gate's topics (`R/…`) plus the site-wide ones it subscribes to. */
export class GateTopics {
  readonly root: string;
  readonly siteTopics: SiteTopics;
  readonly state: string;
  readonly status: string;
  readonly events: string;
  readonly eventsAck: string;
  readonly syncReq: string;
  readonly syncRes: string;
  readonly lookupReq: string;
  readonly lookupRes: string;
  readonly cmd: string;
  readonly cmdRes: string;

  constructor(
    readonly site: string,
    readonly gate: string,
  ) {
    this.siteTopics = new SiteTopics(site);
    this.root = `${this.siteTopics.root}/${checkGateId(gate)}`;
    const t = (kind: GateTopicKind) => `${this.root}/${kind}`;
    this.state = t('state');
    this.status = t('status');
    this.events = t('events');
    this.eventsAck = t('events/ack');
    this.syncReq = t('sync/req');
    this.syncRes = t('sync/res');
    this.lookupReq = t('lookup/req');
    this.lookupRes = t('lookup/res');
    this.cmd = t('cmd');
    this.cmdRes = t('cmd/res');
  }

  of(kind: GateTopicKind): string {
    return `${this.root}/${kind}`;
  }

  /** What a gate subscribes to (all QoS 1): the site's documents and lists, and its own downlink. */
  downlink(): string[] {
    const s = this.siteTopics;
    return [s.trust, s.policy, s.listsWildcard, this.syncRes, this.eventsAck, this.lookupRes, this.cmd];
  }
}

/** Parses any passgate topic; null for anything that is not one (other roots, bad ids, unknown kinds). */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return null;
  const levels = topic.slice(TOPIC_ROOT.length + 1).split('/');
  const [site, second, third, fourth] = levels;
  if (site === undefined || !ID_PATTERN.test(site) || second === undefined || levels.length > 4) return null;
  if (levels.length === 2 && (second === 'trust' || second === 'policy')) return { scope: 'site', site, kind: second };
  if (levels.length === 3 && second === 'lists') {
    return (LIST_NAMES as readonly string[]).includes(third!) ? { scope: 'site', site, kind: 'list', list: third as ListName } : null;
  }
  if (!ID_PATTERN.test(second) || RESERVED_GATE_IDS.includes(second) || third === undefined) return null;
  const kind = fourth === undefined ? third : `${third}/${fourth}`;
  if (!(GATE_TOPIC_KINDS as readonly string[]).includes(kind)) return null;
  return { scope: 'gate', site, gate: second, kind: kind as GateTopicKind };
}
