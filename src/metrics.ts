/**
 * Prometheus metrics (prom-client), one registry per running context so tests
 * can run several servers in one process. Built by the composition root
 * (context.ts): http/ and oidc/ count on it directly; domain code never imports
 * it but declares the interface it counts through (gating/access.ts
 * `GateMetrics`), which context.ts fills from these counters.
 * http/routes/health.ts exposes them at /metrics.
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Completed and failed logins by connector',
    labelNames: ['connector', 'result'] as const,
    registers: [this.registry],
  });
  readonly tokenGrants = new Counter({
    name: 'gatehouse_token_grants_total',
    help: 'Successful token endpoint grants by grant type',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });

  readonly gateDecisions = new Counter({
    name: 'gatehouse_gate_decisions_total',
    help: 'First-auth gating decisions by result and reason',
    labelNames: ['result', 'reason'] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }
}
