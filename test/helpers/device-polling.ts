/**
 * A device polling in the background while the test drives the person's side:
 * openid-client polls every second (the test servers set
 * security.devicePollInterval: 1s, so no slow_down), the outcome is kept as a
 * value, and every poller of a suite is stopped in its afterAll. The server's
 * `authorization_pending` answers are counted per device code, so a test can
 * wait for the next ones instead of sleeping to show that nothing happened.
 */
import type * as client from 'openid-client';
import * as oidc from 'openid-client';

export type DeviceAuthorization = Awaited<ReturnType<typeof client.initiateDeviceAuthorization>>;
export type Tokens = Awaited<ReturnType<typeof client.pollDeviceAuthorizationGrant>>;
export type Outcome = { tokens: Tokens } | { error: unknown };

export interface Polling {
  /** Settles when the device gets its tokens or a final error. */
  result: Promise<Outcome>;
  /** Resolves once the server has answered `count` more polls of this device (from now on) with authorization_pending. */
  pendingAnswers(count: number): Promise<void>;
  stop(): void;
}

export class DevicePollers {
  private readonly pollers: Polling[] = [];
  private readonly watched = new WeakSet<client.Configuration>();
  /** Per device code: called after each authorization_pending answer, before openid-client sees it. */
  private readonly onPending = new Map<string, () => void>();

  poll(device: client.Configuration, authorization: DeviceAuthorization): Polling {
    this.watch(device);
    let pending = 0;
    const waiters: { at: number; resolve: () => void }[] = [];
    this.onPending.set(authorization.device_code, () => {
      pending += 1;
      for (const waiter of waiters.filter((w) => w.at <= pending)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    const controller = new AbortController();
    const result = oidc
      .pollDeviceAuthorizationGrant(device, { ...authorization, interval: 1 }, undefined, { signal: controller.signal })
      .then(
        (tokens): Outcome => ({ tokens }),
        (error: unknown): Outcome => ({ error }),
      )
      .finally(() => this.onPending.delete(authorization.device_code));
    const polling: Polling = {
      result,
      pendingAnswers: (count) => new Promise<void>((resolve) => waiters.push({ at: pending + count, resolve })),
      stop: () => controller.abort(),
    };
    this.pollers.push(polling);
    return polling;
  }

  stopAll(): void {
    for (const p of this.pollers) p.stop();
  }

  /** Looks at the device's token requests and the server's answers (the requests themselves go out unchanged). */
  private watch(device: client.Configuration): void {
    if (this.watched.has(device)) return;
    this.watched.add(device);
    // (FetchBody's Uint8Array is a BodyInit at run time; the DOM and Node typings disagree on it.)
    const inner: client.CustomFetch = device[oidc.customFetch] ?? ((url, options) => fetch(url, options as RequestInit));
    device[oidc.customFetch] = async (url, options) => {
      const response = await inner(url, options);
      const deviceCode = options.body instanceof URLSearchParams ? options.body.get('device_code') : null;
      const listener = deviceCode ? this.onPending.get(deviceCode) : undefined;
      if (listener && response.status === 400) {
        const body = (await response
          .clone()
          .json()
          .catch(() => undefined)) as { error?: string } | undefined;
        if (body?.error === 'authorization_pending') listener();
      }
      return response;
    };
  }
}

export async function tokensOf(polling: Polling): Promise<Tokens> {
  const outcome = await polling.result;
  if ('error' in outcome) throw outcome.error;
  return outcome.tokens;
}
