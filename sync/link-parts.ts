/**
 * What the link's inbound pieces (the downlink, the look-up client) work with: the gate's store and
 * clock, its topics, the one connection and the one count of refused messages. Built once by the
 * gate link and handed to each.
 */
import type { GateStore } from '../device/store/store.js';
import type { Clock } from '../device/core/ports.js';
import type { GateTopics } from './topics.js';
import type { GateConnection } from './connection.js';
import type { RefusalCounter } from './refusals.js';

export interface LinkParts {
  store: GateStore;
  clock: Clock;
  topics: GateTopics;
  conn: Pick<GateConnection, 'send' | 'connected'>;
  refusals: RefusalCounter;
}
