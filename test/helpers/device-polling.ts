/**
 * A device polling in the background while the test drives the person's side:
 * openid-client polls every second (the test servers set
 * security.devicePollInterval: 1s, so no slow_down), the outcome is kept as a
 * value, and every poller of a suite is stopped in its afterAll.
 */
import type * as client from 'openid-client';
import * as oidc from 'openid-client';

export type DeviceAuthorization = Awaited<ReturnType<typeof client.initiateDeviceAuthorization>>;
export type Tokens = Awaited<ReturnType<typeof client.pollDeviceAuthorizationGrant>>;
export type Outcome = { tokens: Tokens } | { error: unknown };

export interface Polling {
  /** Settles when the device gets its tokens or a final error. */
  result: Promise<Outcome>;
  stop(): void;
}

export class DevicePollers {
  private readonly pollers: Polling[] = [];

  poll(device: client.Configuration, authorization: DeviceAuthorization): Polling {
    const controller = new AbortController();
    const result = oidc
      .pollDeviceAuthorizationGrant(device, { ...authorization, interval: 1 }, undefined, { signal: controller.signal })
      .then((tokens): Outcome => ({ tokens }), (error: unknown): Outcome => ({ error }));
    const polling = { result, stop: () => controller.abort() };
    this.pollers.push(polling);
    return polling;
  }

  stopAll(): void {
    for (const p of this.pollers) p.stop();
  }
}

export async function tokensOf(polling: Polling): Promise<Tokens> {
  const outcome = await polling.result;
  if ('error' in outcome) throw outcome.error;
  return outcome.tokens;
}
