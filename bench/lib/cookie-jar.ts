/**
 * A tiny cookie jar for one simulated browser: stores Set-Cookie values by
 * (name, path), honours Path (RFC 6265 §5.1.4 path-match), Max-Age / Expires
 * deletions, and sends the longest-path cookies first. Domain is ignored: every
 * bench request goes to one host.
 */
interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

function defaultPath(requestPath: string): string {
  // RFC 6265 §5.1.4: the directory of the request path.
  const slash = requestPath.lastIndexOf('/');
  return slash <= 0 ? '/' : requestPath.slice(0, slash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export class CookieJar {
  private readonly cookies = new Map<string, StoredCookie>();

  /** Records every Set-Cookie of a response to `url`. */
  store(url: URL, setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cookiePath = defaultPath(url.pathname);
      let expired = false;
      for (const attribute of attributes) {
        const [rawKey = '', ...rest] = attribute.split('=');
        const key = rawKey.trim().toLowerCase();
        const attrValue = rest.join('=').trim();
        if (key === 'path' && attrValue.startsWith('/')) cookiePath = attrValue;
        if (key === 'max-age' && Number(attrValue) <= 0) expired = true;
        if (key === 'expires' && Date.parse(attrValue) <= Date.now()) expired = true;
      }
      const id = `${name}\u0000${cookiePath}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path: cookiePath });
    }
  }

  /** The Cookie header for a request to `url`, or undefined when none apply. */
  header(url: URL): string | undefined {
    const matching = [...this.cookies.values()].filter((c) => pathMatches(url.pathname, c.path)).sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}
