/**
 * A small typed event emitter. Unlike node:events it isolates listeners: one that throws is reported
 * through `onListenerError` and the others still run, so a faulty consumer cannot break a driver's
 * read loop. There is no special `error` event.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] };
type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<keyof E, Array<{ fn: Listener<never[]>; once: boolean }>>();

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, false);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, true);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((l) => l.fn === (listener as unknown as Listener<never[]>));
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.fn as unknown as Listener<E[K]>);
      try {
        (l.fn as unknown as Listener<E[K]>)(...args);
      } catch (err) {
        this.onListenerError(err, String(event));
      }
    }
    return true;
  }

  /** Called when a listener throws; drivers log it. */
  protected onListenerError(_err: unknown, _event: string): void {}

  #add<K extends keyof E>(event: K, listener: Listener<E[K]>, once: boolean): this {
    let list = this.#listeners.get(event);
    if (!list) this.#listeners.set(event, (list = []));
    list.push({ fn: listener as unknown as Listener<never[]>, once });
    return this;
  }
}
