/**
 * "My apps" (GET /account): every client the person may use now (the gate's
 * access list; with gating off, every static client), the invitation that
 * gives it and when the access ends, and a link to open it: the client's
 * `initiate_login_uri` (OpenID Connect third-party-initiated login, with
 * `iss`), else its `client_uri`, else the origin of its first redirect URI
 * (registration/clients.ts `openUrl`, shared with the invitation page).
 */
import type { Gatehouse } from '../../context.ts';
import { openUrl } from '../../registration/clients.ts';
import { deviceCodeGrantType } from '../../oidc/account-sessions.ts';
import { dateText, personOf, type SiteSection } from '../site.ts';

export interface AppView {
  clientId: string;
  name: string;
  /** Where "Open" goes, or null when the client names nowhere to go. */
  href: string | null;
  /** What gives the access, in words ("Invitation “Team”"), or null with gating off. */
  through: string | null;
  /** When the access ends, in words, or null when it does not. */
  ends: string | null;
  endsAt: string | null;
}

/** Where to open a client (kept under this name for the account pages' callers). */
export const openLink = openUrl;

/** The ACL token kinds in words: what gives a person their access. */
function throughWords(kind: string, description: string | null): string {
  const named = description ? ` “${description}”` : '';
  switch (kind) {
    case 'invitation':
      return `Invitation${named}`;
    case 'personal':
      return `Your approved request${named}`;
    case 'global':
      return `Open to every account${named}`;
    case 'bootstrap':
      return `The first administrator's invitation${named}`;
    default:
      return `Access${named}`;
  }
}

/** The apps a person may use now, by name. */
export async function appsOf(gh: Gatehouse, userId: string): Promise<AppView[]> {
  const issuer = gh.config.issuer;
  const apps: AppView[] = [];
  if (gh.gate.mode === 'open') {
    for (const client of await gh.clients.list()) {
      // People's apps: sign-in clients, not services (client_credentials only).
      if (client.source !== 'static' || !client.grantTypes.some((g) => g === 'authorization_code' || g === deviceCodeGrantType)) continue;
      apps.push({ clientId: client.clientId, name: client.name ?? client.clientId, href: openUrl(client, issuer), through: null, ends: null, endsAt: null });
    }
  } else {
    const tokens = new Map<string, { kind: string; description: string | null }>();
    // The longest-lasting access first: when two invitations open the same client, that one is shown.
    const lasting = (e: number | null) => (e === null ? Infinity : e);
    const list = (await gh.gate.accessList(userId)).sort((a, b) => lasting(b.expires_at) - lasting(a.expires_at));
    for (const access of list) {
      const client = await gh.clients.find(access.client_id);
      if (!client || client.heldReason) continue;
      let token = tokens.get(access.acl_token_id);
      if (!token) {
        const found = await gh.aclTokens.get(access.acl_token_id).catch(() => undefined);
        token = { kind: found?.kind ?? 'unknown', description: found?.description ?? null };
        tokens.set(access.acl_token_id, token);
      }
      apps.push({
        clientId: client.clientId,
        name: client.name ?? client.clientId,
        href: openUrl(client, issuer),
        through: throughWords(token.kind, token.description),
        ends: access.expires_at === null ? null : dateText(access.expires_at),
        endsAt: access.expires_at === null ? null : new Date(access.expires_at).toISOString(),
      });
    }
  }
  // One row per client.
  const seen = new Set<string>();
  return apps.filter((a) => !seen.has(a.clientId) && seen.add(a.clientId)).sort((a, b) => a.name.localeCompare(b.name));
}

export const appPages: SiteSection = (router, { gh, page }) => {
  router.get('/account', async (ctx) => {
    const apps = await appsOf(gh, personOf(ctx).userId);
    page(ctx, 'apps', 'apps', { title: 'My apps', apps, gated: gh.gate.mode !== 'open' });
  });
};
