/**
 * Values in flight (calls, their deadlines) in a doubly linked list of small nodes: adding and
 * removing cost one node and a few pointer writes. Not a Set or a Map: a long-lived one whose
 * entries come and go with every call replaces its hash table as removed entries pile up, and a
 * replaced table that had reached the old generation still points at the values it held. The
 * scavenger cannot tell that table is dead, so those values, and everything they hold, survive
 * until the next mark-compact. Measured with the upstream deadlines (src/upstream/deadlines.ts) in
 * a Set: seven times the promotion to the old generation. A removed node clears its pointers, so
 * nothing it pointed at outlives it.
 */
export class LiveList<T> {
  /** The most recently added node. */
  first: LiveNode<T> | null = null;
  size = 0;

  add(value: T): LiveNode<T> {
    const node = new LiveNode(this, value);
    node.next = this.first;
    if (this.first !== null) this.first.prev = node;
    this.first = node;
    this.size += 1;
    return node;
  }

  /**
   * Calls `fn` with every value, newest first; `fn` may remove nodes (the one it is given or any
   * other: one removed before it is reached is not visited). Walks a copy of the list: the sweeps
   * that use it run a few times a second over the calls in flight.
   */
  forEach(fn: (value: T, node: LiveNode<T>) => void): void {
    const nodes: LiveNode<T>[] = [];
    for (let node = this.first; node !== null; node = node.next) nodes.push(node);
    for (const node of nodes) if (node.value !== null) fn(node.value, node);
  }
}

export class LiveNode<T> {
  prev: LiveNode<T> | null = null;
  next: LiveNode<T> | null = null;
  constructor(
    private list: LiveList<T> | null,
    /** null once removed. */
    public value: T | null,
  ) {}

  /** Takes the node out of its list; a second call does nothing. */
  remove(): void {
    const list = this.list;
    if (list === null) return;
    const { prev, next } = this;
    if (prev === null) list.first = next;
    else prev.next = next;
    if (next !== null) next.prev = prev;
    list.size -= 1;
    this.prev = null;
    this.next = null;
    this.list = null;
    this.value = null;
  }
}
