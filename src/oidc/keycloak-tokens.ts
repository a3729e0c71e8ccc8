/**
 * Keycloak's token shape at the realm. Keycloak hands out access and refresh
 * tokens as JWTs, and keycloak-js reads both (`sid` for its session iframe,
 * `exp` and `iat` to know when to refresh); it fails on opaque tokens.
 * oidc-provider's tokens are opaque handles kept in the database, which is what
 * lets a token be revoked, introspected and ended with its client or user.
 *
 * So the realm wraps each handle in a JWT signed with the realm's keys (like an
 * ID token, verifiable against `protocol/openid-connect/certs`), carrying the
 * handle as `jti`, and unwraps it again wherever the realm is handed a token
 * (Authorization header; `refresh_token`, `token`, `access_token` form fields;
 * `access_token` in the query).
 * oidc-provider still sees only handles, so every rule about tokens holds
 * unchanged. The handle is the secret: whoever has the JWT has the handle, and
 * an envelope made up around a handle gives nothing its holder did not have, so
 * unwrapping reads the JWT without verifying it.
 */
import type { Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import { keycloakRoutes } from './provider.ts';
import { readBody } from '../lib/json-body.ts';
import { replaceRequestBody, signLikeIdToken } from './internals.ts';
import { answerOAuthError } from './registration.ts';

/** oidc-provider's own limit for form bodies. */
const bodyLimit = 56 * 1024;
const formType = 'application/x-www-form-urlencoded';
const tokenFields = ['refresh_token', 'token', 'access_token'];

interface Handle {
  accountId?: string;
  clientId?: string;
  exp?: number;
  iat?: number;
  scope?: string;
  sid?: string;
  sessionUid?: string;
}

/** The handle inside one of our envelopes, or the value unchanged. */
export function unwrapToken(issuer: string, value: string): string {
  const parts = value.split('.');
  if (parts.length !== 3) return value;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (claims.iss === issuer && (claims.typ === 'Bearer' || claims.typ === 'Refresh') && typeof claims.jti === 'string') return claims.jti;
  } catch {
    // Not ours (an ID token, a registration access token): passed on as it is.
  }
  return value;
}

export function keycloakTokens(provider: Provider): Middleware {
  const issuer = provider.issuer;
  const tokenPath = String(keycloakRoutes!.token);
  const unwrapPaths = new Set([tokenPath, keycloakRoutes!.introspection, keycloakRoutes!.revocation, keycloakRoutes!.userinfo].map(String));

  async function envelope(handle: string, typ: 'Bearer' | 'Refresh'): Promise<string | undefined> {
    const model = (
      typ === 'Refresh'
        ? await provider.RefreshToken.find(handle)
        : ((await provider.AccessToken.find(handle)) ?? (await provider.ClientCredentials.find(handle)))
    ) as Handle | undefined;
    const client = model?.clientId ? await provider.Client.find(model.clientId) : undefined;
    // A client that wants its ID tokens encrypted would get an envelope nobody can read the handle from: it keeps handles.
    if (!model || !client || !model.exp || client.metadata().id_token_encrypted_response_alg) return undefined;
    // oidc-provider keeps `sid` on tokens only for back-channel logout clients; the session knows it for every client.
    const session = model.sessionUid ? await provider.Session.findByUid(model.sessionUid) : undefined;
    const sid = model.sid ?? session?.authorizations?.[client.clientId]?.sid;
    const sub = model.accountId ?? client.clientId;
    return signLikeIdToken(
      provider,
      client,
      {
        sub,
        typ,
        jti: handle,
        azp: client.clientId,
        ...(sid ? { sid } : {}),
        ...(model.scope ? { scope: model.scope } : {}),
      },
      model.exp,
    );
  }

  return async (ctx, next) => {
    const bearer = /^bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'))?.[1];
    if (bearer) ctx.req.headers.authorization = `Bearer ${unwrapToken(issuer, bearer)}`;
    if (typeof ctx.query.access_token === 'string' && unwrapPaths.has(ctx.path)) {
      ctx.query = { ...ctx.query, access_token: unwrapToken(issuer, ctx.query.access_token) };
    }
    if (ctx.method === 'POST' && unwrapPaths.has(ctx.path) && ctx.is(formType)) {
      const body = await readBody(ctx.req, bodyLimit);
      if (!body.complete) return answerOAuthError(ctx, 413, 'invalid_request', `the request body is larger than ${bodyLimit} bytes`);
      const form = new URLSearchParams(Buffer.concat(body.chunks).toString('utf8'));
      for (const field of tokenFields) {
        // A repeated field is left for oidc-provider to refuse as it is.
        const values = form.getAll(field);
        if (values.length === 1) form.set(field, unwrapToken(issuer, values[0]!));
      }
      replaceRequestBody(ctx, [Buffer.from(form.toString())], { contentType: formType });
    }
    await next();
    if (ctx.path !== tokenPath || ctx.status !== 200 || !ctx.body || typeof ctx.body !== 'object') return;
    const answer = ctx.body as Record<string, unknown>;
    if (typeof answer.access_token === 'string') answer.access_token = (await envelope(answer.access_token, 'Bearer')) ?? answer.access_token;
    if (typeof answer.refresh_token === 'string') answer.refresh_token = (await envelope(answer.refresh_token, 'Refresh')) ?? answer.refresh_token;
  };
}
