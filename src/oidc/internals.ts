/**
 * Every place Gatehouse reaches past oidc-provider's public API, in one file so
 * that an upgrade checks one file (and test/oidc/internals.test.ts, which runs
 * each reach against the installed oidc-provider and names its version).
 * Each reach was read from oidc-provider 9.13.3; the file it depends on is named
 * beside it. Nothing else in src/ deep-imports oidc-provider, touches its
 * per-provider state, or relies on the shape of what it generates.
 */
import { Readable } from 'node:stream';
import { Provider, type Client, type KoaContextWithOIDC } from 'oidc-provider';
import addClient from 'oidc-provider/lib/helpers/add_client.js';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { normalize } from 'oidc-provider/lib/helpers/user_codes.js';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';
import { GatehouseError } from '../errors.ts';

// ---- per-provider state (lib/helpers/weak_cache.js, set up in lib/provider.js) --------------------

export type GrantHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

/**
 * Puts `wrap(original)` in place of the handler oidc-provider runs for
 * `grantType` at the token endpoint (the map `grantTypeHandlers`, filled by
 * `registerGrantType` in lib/provider.js): the RFC 8628 pace check in front of
 * the device_code grant (./device-polling.ts). No public API wraps a built-in grant.
 */
export function wrapGrantHandler(provider: Provider, grantType: string, wrap: (original: GrantHandler) => GrantHandler): void {
  const handlers = instance(provider).grantTypeHandlers;
  const original = handlers.get(grantType);
  if (!original) throw new GatehouseError('config.invalid', `oidc-provider has no ${grantType} grant handler (is its feature enabled?)`);
  handlers.set(grantType, wrap(original));
}

/** A registered client built once for the stored text of its metadata. */
interface BuiltClient {
  text: string;
  client: Client;
}

/**
 * `Client.find` for registered clients, built once per stored metadata text.
 * oidc-provider's own (lib/models/client.js) reads the metadata through the
 * adapter on every request, then serializes and hashes it to look the built
 * client up in `dynamicClients` (100 of them): per token of a registered client
 * that was a parse, a serialization and a hash of the metadata. Here
 * `storedText` reads the row as text (the adapter's own rules: a held client is
 * not found, but by its management routes), and a client is rebuilt, by the same
 * `addClient` oidc-provider calls, only when that text differs from what it was
 * built from: a changed client is never served stale, and every instance sees
 * a change at its next read. Static clients, and ids with no stored client when
 * client id metadata documents are on, go to oidc-provider's own find (an
 * unknown id is then one read, not two).
 */
export function reuseBuiltClients(provider: Provider, storedText: (id: string) => Promise<string | undefined>, maxSize: number): void {
  const Clients = provider.Client;
  const original = Clients.find.bind(Clients);
  const { staticClients, features } = instance(provider);
  // Only a client id metadata document can be a client that is not stored; without the feature, not stored is not found.
  const documents = features.clientIdMetadataDocument?.enabled === true;
  const built = new LRU<BuiltClient>({ maxSize });
  builtCaches.set(provider, built);
  Clients.find = async (id: string) => {
    if (typeof id !== 'string' || !id || staticClients?.has(id)) return original(id);
    const text = await storedText(id);
    if (text === undefined) return documents ? original(id) : undefined;
    const cached = built.get(id);
    if (cached?.text === text) return cached.client;
    const client = await addClient(provider, JSON.parse(text) as Record<string, unknown>);
    built.set(id, { text, client });
    return client;
  };
}

const builtCaches = new WeakMap<Provider, LRU<BuiltClient>>();

/** The cache `reuseBuiltClients` keeps (by client id), for the upgrade test to fill. */
export function builtClientCache(provider: Provider): { get(key: string): unknown; set(key: string, value: unknown): unknown } {
  const cache = builtCaches.get(provider);
  if (!cache) throw new Error('reuseBuiltClients was not called for this provider');
  return cache as unknown as { get(key: string): unknown; set(key: string, value: unknown): unknown };
}

/**
 * Swaps the provider's signing keys for `jwks`, through the same function its
 * constructor uses (lib/helpers/initialize_keystore.js): it checks every key,
 * then replaces `keystore` (what id tokens and JWT responses are signed with:
 * the first key of the wanted alg) and `jwks` (what `/jwks` answers) in one
 * synchronous step, so no request sees half of each. It only ever adds
 * algorithms to the advertised `*_signing_alg_values_supported`; ours stay RS256
 * and ES256 because the last active key of an algorithm cannot be revoked
 * (./keys.ts). Used by ./key-refresh.ts.
 */
export function replaceKeystore(provider: Provider, jwks: { keys: Record<string, unknown>[] }): void {
  initializeKeystore.call(provider, jwks);
}

/** The JWKS the provider publishes now: a new object after every `replaceKeystore`, so it doubles as a version. */
export function publishedJwks(provider: Provider): object {
  return instance(provider).jwks;
}

// ---- models (lib/models/*.js) ---------------------------------------------------------------------

/**
 * A new registration access token (lib/models/registration_access_token.js):
 * its constructor is not in oidc-provider's types, which expect only the
 * registration endpoint to make one.
 */
export async function issueRegistrationAccessToken(provider: Provider, init: { clientId: string; policies?: string[] }): Promise<string> {
  const Rat = provider.RegistrationAccessToken as unknown as new (init: { clientId: string; policies?: string[] }) => { save(): Promise<string> };
  return new Rat(init).save();
}

type DeviceCode = InstanceType<Provider['DeviceCode']>;

/**
 * Puts a confirmed device code whose sign-in was left unfinished back to "typed,
 * not confirmed": lib/actions/code_verification.js refuses a code with
 * `inFlight` set and sets it when the person confirms (it is in the model's
 * payload, lib/models/device_code.js, but not in its types).
 */
export async function reopenDeviceCode(code: DeviceCode): Promise<void> {
  (code as DeviceCode & { inFlight?: boolean | undefined }).inFlight = undefined;
  await code.save();
}

/** A typed user code as oidc-provider looks it up (lib/helpers/user_codes.js `normalize`): upper case, no separators. */
export function normalizeUserCode(typed: string): string {
  return normalize(typed);
}

/**
 * Signs `claims` as oidc-provider signs an ID token for `client` (its `IdToken`
 * model, lib/models/id_token.js: the client's alg, the provider's keystore,
 * `iss`, `aud`, `iat`, `exp` added): the Keycloak realm's token envelopes
 * (./keycloak-tokens.ts). `use: 'idtoken'` picks the id token signing settings.
 */
export async function signLikeIdToken(
  provider: Provider,
  client: Client,
  claims: Record<string, unknown> & { sub: string },
  expiresAt: number,
): Promise<string> {
  const token = new provider.IdToken({ sub: claims.sub }, { client });
  for (const [name, value] of Object.entries(claims)) token.set(name, value);
  return token.issue({ use: 'idtoken', expiresAt } as Parameters<typeof token.issue>[0]);
}

/**
 * The route name of the request oidc-provider is handling now (`Provider.ctx`,
 * its AsyncLocalStorage, lib/helpers/als.js; `ctx.oidc.route` is set by its
 * router): the adapter tells RFC 7592 management (`client`, `client_update`,
 * `client_delete`) from every other use of a client.
 */
export function currentRoute(): string | undefined {
  const route = (Provider.ctx as KoaContextWithOIDC | undefined)?.oidc?.route;
  return route === undefined ? undefined : String(route);
}

// ---- requests and generated HTML ------------------------------------------------------------------

/**
 * Hands oidc-provider a request body we have read (and maybe changed): it reads
 * the body from `ctx.req` itself (raw-body in lib/shared/selective_body.js), so
 * the consumed request is swapped for a fresh stream, `chunks` first and then,
 * with `rest`, whatever is left of the original. Content-Length matches unless
 * the rest follows; `contentType`, when given, is what it is to parse them as.
 */
export function replaceRequestBody(ctx: { req: KoaContextWithOIDC['req'] }, chunks: Buffer[], options: { rest?: boolean; contentType?: string } = {}): void {
  const original = ctx.req;
  if (!options.rest) original.headers['content-length'] = String(chunks.reduce((size, chunk) => size + chunk.length, 0));
  if (options.contentType) original.headers['content-type'] = options.contentType;
  if (!options.rest) {
    // The whole body is in hand: what oidc-provider's body reader asks of a request, readable from `chunks` (no stream to build).
    ctx.req = {
      headers: original.headers,
      method: original.method,
      url: original.url,
      socket: original.socket,
      readable: true,
      readableEncoding: null,
      iterator: () => replay(chunks),
      [Symbol.asyncIterator]: () => replay(chunks),
    } as unknown as KoaContextWithOIDC['req'];
    return;
  }
  async function* body() {
    yield* chunks;
    for await (const chunk of original.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
  }
  const stream = Readable.from(body(), { objectMode: false });
  ctx.req = Object.assign(stream, {
    headers: original.headers,
    method: original.method,
    url: original.url,
    socket: original.socket,
  }) as unknown as KoaContextWithOIDC['req'];
}

/** An async iterator over `chunks`, as `Readable.iterator()` gives one (what oidc-provider's body reader asks a request for). */
function replay(chunks: Buffer[]): AsyncIterableIterator<Buffer> {
  let next = 0;
  const iterator: AsyncIterableIterator<Buffer> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => Promise.resolve(next < chunks.length ? { value: chunks[next++]!, done: false } : { value: undefined, done: true }),
    return: () => {
      next = chunks.length;
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return iterator;
}

/**
 * The action and `xsrf` of a form oidc-provider generates and hands to a page
 * source (lib/helpers/user_code_form.js for the device flow, the logout form in
 * lib/actions/end_session.js): our pages render their own form around them.
 */
export function formParts(form: string): { action: string; xsrf: string } {
  return {
    action: /action="([^"]*)"/.exec(form)?.[1] ?? '',
    xsrf: /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '',
  };
}
