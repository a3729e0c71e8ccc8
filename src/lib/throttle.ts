/**
 * Counts events per key in a sliding window, in memory, per instance: an
 * attacker spread over N instances gets N times the budget.
 * @deprecated Gatehouse's limits count in the shared store
 * (`security.rateLimits.store`): use `Limiter` over `gh.limiterStore` from
 * ./limiter-store.ts. Kept for callers not yet switched (issue 14).
 */
export class SlidingWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while `key` is below its limit. */
  allows(key: string): boolean {
    return this.recent(key).length < this.limit;
  }

  /** Records one event; returns whether it was still within the limit. */
  hit(key: string): boolean {
    const list = this.recent(key);
    // Hits over the limit are not kept: a flooding key costs a bounded list, not one entry per request.
    if (list.length > this.limit) {
      this.hits.set(key, list);
      return false;
    }
    list.push(this.now());
    this.hits.set(key, list);
    if (this.hits.size > 50_000) this.prune();
    return list.length <= this.limit;
  }

  /** Events of `key` still in the window. */
  count(key: string): number {
    return this.recent(key).length;
  }

  /** How long until `key` is below its limit again (0 when it is now): when its oldest counted events leave the window. */
  retryAfterMs(key: string): number {
    const list = this.recent(key);
    if (list.length < this.limit) return 0;
    return list[list.length - this.limit]! + this.windowMs - this.now();
  }

  reset(key: string): void {
    this.hits.delete(key);
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.hits.get(key) ?? []).filter((t) => t > since);
  }

  private prune(): void {
    for (const key of this.hits.keys()) {
      if (this.recent(key).length === 0) this.hits.delete(key);
    }
  }
}
