/**
 * Device self-enrollment (SPEC 6.2): POST <issuer>/api/register-device with the
 * signed registration JWT a fleet's firmware carries and each device's own
 * manufacturer id (a new one for every request: an id enrolls once), as many
 * as the server takes; each 201 is a new client_credentials client. The JWT is
 * one device token for any number of devices, minted by the bench server
 * (`--devices`), with the per-IP limit out of the way.
 *
 * oidc-provider has no such endpoint, so the baselines do the nearest thing
 * they have, their own dynamic registration (POST /reg with a fixed initial
 * access token, as ./registration.ts). The target is against the durable
 * baseline (both store a new client on disk); the in-memory ratio is printed.
 * The rate counts 201 answers; any other answer is tallied by status and OAuth
 * `error` (every round, on every server) and reported, not thrown.
 */
import { randomBytes } from 'node:crypto';
import { baselineRegistrationToken, registrationRequest } from '../fixtures.ts';
import { addAnswers, answerKind, emptyTally, type AnswerTally } from '../lib/answers.ts';
import { measureAnswers } from '../lib/http-load.ts';
import { registerClient, registrationHeaders } from './registration.ts';
import type { Durations, Side, TalliedWorkload } from './types.ts';

const connections = 16;

/** What the Gatehouse bench server announces with `--devices`. */
export interface DeviceServer {
  url: string;
  configFile: string;
  /** The registration JWT (a device token for any number of devices). */
  token: string;
  tokenId: string;
}

export function devicesFrom(url: string, announced: Record<string, unknown>): DeviceServer {
  const d = announced.devices;
  if (
    typeof d !== 'object' ||
    d === null ||
    !('configFile' in d) ||
    !('token' in d) ||
    !('tokenId' in d) ||
    typeof d.configFile !== 'string' ||
    typeof d.token !== 'string' ||
    typeof d.tokenId !== 'string'
  ) {
    throw new Error(`gatehouse announced no device token (started without --devices?): ${JSON.stringify(announced)}`);
  }
  return { url, configFile: d.configFile, token: d.token, tokenId: d.tokenId };
}

export function registerDevice(d: Durations, server: DeviceServer): TalliedWorkload {
  // Ids unique to this run too, so a re-run against a kept database would not meet its own devices.
  const run = randomBytes(4).toString('hex');
  let next = 0;
  const manufacturerId = () => {
    next += 1;
    return `bench-${run}-${next}`;
  };
  const enrollment = () => JSON.stringify({ token: server.token, manufacturerId: manufacturerId() });
  const tallies: Record<Side, AnswerTally> = { gatehouse: emptyTally(), baseline: emptyTally(), durable: emptyTally(), workers: emptyTally() };
  const jsonHeaders = { 'content-type': 'application/json', accept: 'application/json' };

  return {
    name: 'register-device (BL: its /reg)',
    // Against the durable baseline's /reg (both store a new client); the in-memory ratio is printed.
    target: null,
    targetDurable: 0.8,
    sides: ['baseline', 'durable', 'gatehouse'],
    tally: (side) => tallies[side],
    async measure(url, round) {
      const gatehouse = round.side === 'gatehouse';
      if (gatehouse) {
        const probe = await fetch(`${url}/api/register-device`, {
          method: 'POST',
          headers: jsonHeaders,
          body: enrollment(),
          signal: AbortSignal.timeout(30_000),
        });
        const json: unknown = await probe.json().catch(() => null);
        if (probe.status !== 201 || typeof json !== 'object' || json === null || !('clientId' in json) || !('clientSecret' in json)) {
          throw new Error(`register-device probe: ${probe.status} ${JSON.stringify(json)}`);
        }
      } else {
        await registerClient(url, baselineRegistrationToken);
      }
      const result = await measureAnswers({
        url: gatehouse ? `${url}/api/register-device` : `${url}/reg`,
        method: 'POST',
        headers: gatehouse ? jsonHeaders : registrationHeaders(baselineRegistrationToken),
        body: gatehouse ? enrollment() : JSON.stringify(registrationRequest),
        ...(gatehouse ? { setupRequest: (request) => ({ ...request, body: enrollment() }) } : {}),
        classify: answerKind,
        connections,
        durationSec: Math.max(1, Math.round(d.httpSec * round.share)),
        warmupSec: round.warmup ? d.httpWarmupSec : 0,
      });
      const { side } = round;
      addAnswers(tallies[side], result.kinds, result.errors);
      const created = result.statuses['201'] ?? 0;
      return {
        numbers: { rps: created / result.elapsedSec, p50ms: result.p50ms, p99ms: result.p99ms, count: created, elapsedSec: result.elapsedSec },
        details: {
          endpoint: gatehouse ? '/api/register-device' : '/reg',
          connections,
          round: { answers: result.kinds, errors: result.errors, answeredPerSec: Math.round(result.rps * 10) / 10 },
          // Totals over every timed round so far on this server (the last round's details are kept).
          total: { answers: { ...tallies[side].answers }, errors: tallies[side].errors },
        },
      };
    },
  };
}
