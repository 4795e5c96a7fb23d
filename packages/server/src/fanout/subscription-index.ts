import type { Subscription } from './subscription.js';

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  /** Subscriptions whose pattern ends exactly at this node. */
  readonly here = new Set<Subscription>();
  /** Subscriptions whose pattern ends with `>` below this node. */
  readonly rest = new Set<Subscription>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.here.size === 0 && this.rest.size === 0;
  }
}

/**
 * Finds the subscriptions that match a channel. Exact names sit in a map (the common case: one lookup);
 * patterns sit in a trie of segments where `*` is a child like any other and `>` collects the rest.
 */
export class SubscriptionIndex {
  private readonly exact = new Map<string, Set<Subscription>>();
  private readonly root = new TrieNode();
  private patternCount = 0;

  add(sub: Subscription): void {
    if (!sub.isPattern) {
      let set = this.exact.get(sub.channel);
      if (!set) this.exact.set(sub.channel, (set = new Set()));
      set.add(sub);
      return;
    }
    const segments = sub.channel.split('.');
    let node = this.root;
    for (const segment of segments) {
      if (segment === '>') {
        node.rest.add(sub);
        this.patternCount++;
        return;
      }
      let child = node.children.get(segment);
      if (!child) node.children.set(segment, (child = new TrieNode()));
      node = child;
    }
    node.here.add(sub);
    this.patternCount++;
  }

  remove(sub: Subscription): void {
    if (!sub.isPattern) {
      const set = this.exact.get(sub.channel);
      if (set?.delete(sub) && set.size === 0) this.exact.delete(sub.channel);
      return;
    }
    const segments = sub.channel.split('.');
    const path: TrieNode[] = [this.root];
    let node = this.root;
    for (const segment of segments) {
      if (segment === '>') break;
      const child = node.children.get(segment);
      if (!child) return;
      node = child;
      path.push(node);
    }
    const removed = segments.at(-1) === '>' ? node.rest.delete(sub) : node.here.delete(sub);
    if (!removed) return;
    this.patternCount--;
    // Prune empty branches so that a churn of short-lived patterns does not grow the trie forever.
    for (let i = path.length - 1; i > 0 && path[i]!.isEmpty(); i--) path[i - 1]!.children.delete(segments[i - 1]!);
  }

  /** Calls `visit` for every subscription matching `channel` (a concrete channel name). */
  forEachMatch(channel: string, visit: (sub: Subscription) => void): void {
    const exact = this.exact.get(channel);
    if (exact) for (const sub of exact) visit(sub);
    if (this.patternCount > 0) this.walk(this.root, channel.split('.'), 0, visit);
  }

  countMatches(channel: string): number {
    let count = 0;
    this.forEachMatch(channel, () => count++);
    return count;
  }

  private walk(node: TrieNode, segments: string[], depth: number, visit: (sub: Subscription) => void): void {
    if (depth === segments.length) {
      for (const sub of node.here) visit(sub);
      return;
    }
    // `>` needs at least one more segment, which is the case here.
    for (const sub of node.rest) visit(sub);
    const named = node.children.get(segments[depth]!);
    if (named) this.walk(named, segments, depth + 1, visit);
    const star = node.children.get('*');
    if (star) this.walk(star, segments, depth + 1, visit);
  }
}
