/**
 * The keys signed cookies are signed with, in the shape Koa and oidc-provider
 * take (`app.keys`, `cookies.keys`: what the `keygrip` package gives): `sign`
 * with the first key, `index` / `verify` against each. The signatures are the
 * ones keygrip makes by default (HMAC-SHA1, base64url), so a cookie signed
 * before stays valid. What differs is the comparison: keygrip's (the `tsscmp`
 * package) draws 32 random bytes and computes two more HMACs for every
 * comparison, on every signed cookie a request reads (a sign-in reads a dozen);
 * here the two digests, both as long as SHA-1's, are compared with
 * `crypto.timingSafeEqual`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class CookieKeys {
  constructor(private readonly list: readonly string[]) {}

  sign(data: string): string {
    const [first] = this.list;
    if (first === undefined) throw new Error('no cookie keys to sign with');
    return digest(first, data);
  }

  /** The position of the key `signature` was made with, -1 when none made it. */
  index(data: string, signature: string): number {
    const given = Buffer.from(signature);
    return this.list.findIndex((key) => {
      const expected = Buffer.from(digest(key, data));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
  }

  verify(data: string, signature: string): boolean {
    return this.index(data, signature) > -1;
  }
}

const digest = (key: string, data: string): string => createHmac('sha1', key).update(data).digest('base64url');
