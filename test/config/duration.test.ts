/**
 * Durations as users write them in config and CLI flags: 30s, 15m, 12h, 7d,
 * 2w, or (for an expiry) an ISO date. Garbage, zero and the past are refused
 * with a message that says what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { parseDurationSeconds, parseExpiry } from '../../src/config/duration.ts';
import { GatehouseError } from '../../src/errors.ts';

const now = new Date('2026-06-15T12:00:00.000Z');

function refusal(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('input.invalid');
    return err as GatehouseError;
  }
  throw new Error('accepted, but should have been refused');
}

describe('parseDurationSeconds', () => {
  it.each([
    ['30s', 30],
    ['15m', 900],
    ['12h', 43_200],
    ['7d', 604_800],
    ['2w', 1_209_600],
    ['60s', 60],
    [' 1h ', 3600],
    ['90d', 7_776_000],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it.each(['', 'soon', '10', '1.5h', '-5m', '5 minutes', '1y', 'h', '7D', '2027-01-31'])('refuses %j, saying what a duration looks like', (text) => {
    expect(refusal(() => parseDurationSeconds(text)).message).toBe(`"${text}" is not a duration: use 30s, 15m, 12h, 7d or 2w`);
  });

  it.each(['0s', '0d', '00m'])('refuses the zero duration %j', (text) => {
    expect(refusal(() => parseDurationSeconds(text)).message).toBe(`"${text}" must be a positive duration`);
  });

  it('refuses a duration too large to count in seconds', () => {
    expect(refusal(() => parseDurationSeconds('99999999999999999999w')).message).toContain('must be a positive duration');
  });
});

describe('parseExpiry', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
  ])('puts %j that far after now', (text, ms) => {
    expect(parseExpiry(text, now).getTime()).toBe(now.getTime() + ms);
  });

  it('reads an ISO date as midnight UTC of that day', () => {
    expect(parseExpiry('2027-01-31', now).toISOString()).toBe('2027-01-31T00:00:00.000Z');
  });

  it('reads an ISO date and time, with Z or an offset', () => {
    expect(parseExpiry('2026-06-15T12:00:01Z', now).toISOString()).toBe('2026-06-15T12:00:01.000Z');
    expect(parseExpiry('2027-01-31T10:00:00+02:00', now).toISOString()).toBe('2027-01-31T08:00:00.000Z');
    expect(parseExpiry('2027-01-31T10:00:00.250Z', now).toISOString()).toBe('2027-01-31T10:00:00.250Z');
  });

  it.each(['tomorrow', 'next week', '31/01/2027', '2027-1-31', '1.5d', '', '2027-01-31T10:00:00 UTC'])('refuses %j, naming both forms it accepts', (text) => {
    expect(refusal(() => parseExpiry(text, now)).message).toBe(`"${text}" is not a duration or date: use 30s, 15m, 12h, 7d or an ISO date like 2027-01-31`);
  });

  it.each(['2027-13-01', '2027-02-30', '2027-02-29', '2027-04-31', '2027-01-31T25:00Z'])(
    'refuses the impossible date %j instead of rolling it over',
    (text) => {
      expect(refusal(() => parseExpiry(text, now)).message).toBe(`"${text}" is not a valid date`);
    },
  );

  it('accepts 29 February in a leap year', () => {
    expect(parseExpiry('2028-02-29', now).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });

  it.each(['2020-01-01', '2026-06-15T12:00:00Z', '2026-06-15'])('refuses %j because it is not in the future', (text) => {
    expect(refusal(() => parseExpiry(text, now)).message).toBe(`"${text}" lies in the past`);
  });

  it('refuses a zero duration', () => {
    expect(refusal(() => parseExpiry('0s', now)).message).toBe('"0s" must be a positive duration');
  });
});
