/**
 * The life of a registered client around oidc-provider's registration
 * endpoint. Before oidc-provider validates and stores a client, `reserve`
 * checks the registration token and the policies (reads only); when
 * oidc-provider stores the client and its registration access token, their
 * one transaction (the adapter, through `storeWork`) also takes a use of the token (a conditional UPDATE, so a count
 * is exact under concurrency), checks maxClients, records the client and gives
 * it its gating links. So a request oidc-provider refuses never holds a use.
 * `settle` undoes all of it when the registration did not end in a 201, or
 * mails approvers when the client waits for one. Admin operations (enable,
 * disable, delete) and the approval links live here too. Depends on db, audit,
 * gating, mail, lib.
 *
 * Crashes: a registration through oidc-provider is one transaction: the
 * reservation, the client and its registration access token (oidc-provider's
 * last store before the answer leaves with the client's credentials) commit
 * together, the record written 'stored'. So a crash leaves all of it or none.
 * A record in state 'reserved' (the use taken, the client maybe not) is what a
 * crash of an earlier version could leave between its two commits:
 * `repairReservations` (at start-up and every minute, see http/server.ts)
 * removes those older than `reservationBoundMs`, with the client stored for
 * them, and gives their uses back. Every way out of 'reserved' is a
 * conditional write whose row count decides, under the registration lock, so
 * a use is given back exactly once even when two instances repair at the same
 * moment.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Audit } from '../audit/audit.ts';
import type { Config } from '../config/schema.ts';
import { lockForCounting } from '../db/flavor.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { deleteClientTokensOfClient } from '../db/repos/acl-tokens.ts';
import { destroyModel, destroyModelsOfClient } from '../db/repos/oidc-models.ts';
import {
  approversOfRecord,
  countRegisteredClients,
  deleteRegisteredClient,
  deleteReservation,
  findClientApprovalLink,
  findRegisteredClient,
  findRegistrationToken,
  insertClientApprovalLink,
  insertRegisteredClient,
  listRegisteredClients,
  listStaleReservations,
  markReservationStored,
  retireClientApprovalLinks,
  returnRegistrationTokenUse,
  setClientDisabled,
  setRegisteredClientApprovers,
  setRegisteredClientFlag,
  takeRegistrationTokenUse,
  touchClientTokenTime,
  useClientApprovalLink,
  type ClientApprovalLinkRow,
  type RegisteredClientRow,
} from '../db/repos/registration.ts';
import { withTransaction, withWriteTransaction, type Tx } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { AclTokens } from '../gating/acl-tokens.ts';
import type { Gate } from '../gating/access.ts';
import type { Clock } from '../lib/clock.ts';
import { isEmail } from '../lib/email.ts';
import type { Logger } from '../lib/logger.ts';
import { randomId, randomSecret, sha256 } from '../lib/secrets.ts';
import type { MailOutbox } from '../mail/outbox.ts';
import type { ClientDirectory } from './clients.ts';
import { applyTemplateDefaults, checkTemplate, checkTrustedRedirects, isDeviceMetadata, parseTemplate, type Metadata } from './rules.ts';
import { refusalOf, type RegistrationTokens } from './tokens.ts';

export interface RegistrationRequest {
  /** RFC 7591 client metadata as sent. */
  metadata: Metadata;
  /** The bearer token of the request, if any. */
  token?: string | undefined;
  sourceIp: string;
  via: RegisteredClientRow['via'];
  /** A client id chosen by the registrant (Keycloak's representation allows it). */
  clientId?: string | undefined;
}

export interface Reservation {
  clientId: string;
  tokenId: string | null;
  /** The metadata to register (template defaults applied). */
  metadata: Metadata;
  held: RegisteredClientRow['disabled_reason'];
}

/** A registration between `reserve` and `settle`, in this process. */
interface PendingRegistration {
  reservation: Reservation;
  kind: RegisteredClientRow['kind'];
  via: RegisteredClientRow['via'];
  actor: string;
  aclTokenId: string | null;
  /** checked: nothing written yet; stored: written with the client and its registration access token. ('reserved' is a record written before the client was: only a crash of an older version leaves one.) */
  state: 'checked' | 'stored';
  /** oidc-provider's store of the client, held until its registration access token is stored (`storeWork`). */
  client?: (tx: Tx) => Promise<void>;
  /** What refused the reservation when oidc-provider stored the client. */
  failure?: unknown;
}

export interface RegistrarOptions {
  registration: Config['registration'];
  issuer: string;
  brand: string;
  /** Who is asked to enable a client made with an `--approval` token, unless the client has its own approvers. */
  approvers: string[];
  linkTtlMs: number;
  /** Host name -> addresses, for the trustedHosts source check (tests pass their own). */
  resolve?: (host: string) => Promise<string[]>;
}

/**
 * How long a registration may hold its reservation before the repair treats it
 * as interrupted. oidc-provider stores a client within milliseconds (its one
 * outbound fetch, a sector_identifier_uri, times out after 2.5 s); a minute
 * leaves a wide margin and still gives a crashed registration's use back soon.
 */
export const reservationBoundMs = 60_000;

export interface RepairResult {
  /** Interrupted registrations: removed (with a client oidc-provider may have stored), their uses given back. */
  undone: string[];
}

/** A registered client's yes/no settings: its column, its audit action, and how the refusal for a static client names it. */
const clientFlags = {
  discoverable: { column: 'discoverable', action: 'client.discoverable_set', words: 'whether it is discoverable' },
  requireMfa: { column: 'require_mfa', action: 'client.require_mfa_set', words: 'whether it requires a second factor' },
} as const;

const clientIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const normalizeIp = (ip: string) => ip.replace(/^::ffff:/, '');

async function resolveHost(host: string): Promise<string[]> {
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

export class Registrar {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly logger: Logger,
    private readonly tokens: RegistrationTokens,
    private readonly aclTokens: AclTokens,
    private readonly gate: Gate,
    private readonly outbox: MailOutbox,
    private readonly clients: ClientDirectory,
    private readonly options: RegistrarOptions,
  ) {}

  /** Registrations between `reserve` and `settle` in this process, by client id. */
  private readonly pending = new Map<string, PendingRegistration>();

  /**
   * Everything checked before oidc-provider validates and stores the client
   * (reads only): the registration token, its template, the policies. The
   * reservation itself (a use of the token, the maxClients check, Gatehouse's
   * record) is written in the same transaction as oidc-provider's stores of
   * the client and its registration access token (`storeWork`), after
   * oidc-provider's validation: a request it refuses never holds a use, and a
   * use is never taken without the client.
   * Until `settle`, the reservation waits in this process's `pending`.
   */
  async reserve(request: RegistrationRequest): Promise<Reservation> {
    const { policies, initialAccessToken } = this.options.registration;
    const presented = request.token ? await this.tokens.check(request.token) : undefined;
    let metadata = request.metadata;
    if (!presented) {
      if (initialAccessToken === 'required') {
        throw new GatehouseError('registration.invalid_token', 'a registration token is required: send it as "Authorization: Bearer <token>"');
      }
      await this.checkTrustedSource(request.sourceIp);
      checkTrustedRedirects(metadata, policies.trustedHosts);
    } else {
      checkTemplate(metadata, presented.parsedTemplate);
      metadata = applyTemplateDefaults(metadata, presented.parsedTemplate);
    }
    const clientId = request.clientId ?? randomId();
    if (request.clientId !== undefined) {
      if (!clientIdPattern.test(request.clientId))
        throw new GatehouseError('registration.invalid_client_metadata', 'clientId may hold letters, digits and . _ : @ - (128 characters at most)');
      if (await this.clients.exists(request.clientId)) throw new GatehouseError('already_exists', `client id ${request.clientId} is already in use`);
      // Two registrations choosing the same id at once: the second waits for nothing and is refused here.
      if (this.pending.has(request.clientId)) throw new GatehouseError('already_exists', `client id ${request.clientId} is already in use`);
    }
    const kind: RegisteredClientRow['kind'] = isDeviceMetadata(metadata) ? 'device' : 'application';
    const held: RegisteredClientRow['disabled_reason'] = presented?.approval ? 'approval' : policies.clientDisabled ? 'policy' : null;
    const reservation: Reservation = { clientId, tokenId: presented?.id ?? null, metadata, held };
    this.pending.set(clientId, {
      reservation,
      kind,
      via: request.via,
      actor: presented ? `registration_token:${presented.id}` : `anonymous:${request.sourceIp}`,
      aclTokenId: presented?.acl_token_id ?? null,
      state: 'checked',
    });
    return reservation;
  }

  /**
   * What the adapter does with one of oidc-provider's stores (oidc/adapter.ts)
   * for a registration in `pending`: the client's store is held, and written
   * with its registration access token, oidc-provider's last store before the
   * answer leaves (with the client's credentials), in one transaction with the
   * reservation (`reserveIn`). So a registration is all there or not at all,
   * whatever crashes when; a refused reservation refuses that store, and the
   * registration answers the refusal. Undefined for every other store.
   */
  storeWork(model: string, id: string, payload: { clientId?: unknown }, write: (tx: Tx) => Promise<void>): ((tx: Tx) => Promise<void>) | 'held' | undefined {
    if (model === 'Client') {
      const pending = this.pending.get(id);
      if (pending?.state !== 'checked') return undefined;
      pending.client = write;
      return 'held';
    }
    if (model === 'RegistrationAccessToken' && typeof payload.clientId === 'string') {
      const pending = this.pending.get(payload.clientId);
      const client = pending?.client;
      if (pending?.state !== 'checked' || !client) return undefined;
      return async (tx) => {
        try {
          await this.reserveIn(tx, pending);
          await client(tx);
        } catch (err) {
          pending.failure = err;
          throw err;
        }
        // (Rolled back with the rest if the commit fails: then the store fails, settle finds nothing to undo.)
        pending.state = 'stored';
      };
    }
    return undefined;
  }

  /** The reservation's writes (in the transaction that stores the client): a use of the token, maxClients, the record, its gating links. */
  private async reserveIn(trx: Tx, pending: PendingRegistration): Promise<void> {
    const { clientId, tokenId, held } = pending.reservation;
    // Registrations take turns, so maxClients holds exactly.
    await lockForCounting(trx, 'registration');
    const now = this.clock.now();
    if (tokenId && !(await takeRegistrationTokenUse(trx, tokenId, now))) {
      // As `check` would refuse it now (its early answer may be up to a second old).
      const fresh = await findRegistrationToken(trx, tokenId);
      throw (fresh && refusalOf(fresh, now)) ?? new GatehouseError('registration.invalid_token', 'this registration token can no longer be used');
    }
    const { maxClients } = this.options.registration.policies;
    if ((await countRegisteredClients(trx)) >= maxClients) {
      throw new GatehouseError('registration.invalid_client_metadata', `policy maxClients: the limit of ${maxClients} registered clients has been reached`);
    }
    await insertRegisteredClient(trx, {
      client_id: clientId,
      registration_token_id: tokenId,
      via: pending.via,
      kind: pending.kind,
      disabled_reason: held,
      disabled_at: held ? now : null,
      created_at: now,
      state: 'stored',
    });
    if (pending.kind === 'application') {
      if (pending.aclTokenId) {
        const ct = await this.aclTokens.insertClientToken(trx, clientId, null, pending.actor);
        await this.aclTokens.link(trx, pending.aclTokenId, ct.row.id);
      } else if (this.gate.mode === 'auto') {
        await this.gate.linkToGlobalToken(trx, clientId, pending.actor);
      }
    }
    await this.audit.record(trx, {
      actor: pending.actor,
      action: 'client.registered',
      subject: clientId,
      details: { via: pending.via, kind: pending.kind, held, registrationToken: tokenId },
    });
  }

  /** Why the reservation of a registration in flight failed (a used-up token, maxClients), once oidc-provider tried to store it. */
  failureOf(reservation: Reservation): unknown {
    return this.pending.get(reservation.clientId)?.failure;
  }

  /** After oidc-provider answered: undo a registration that did not happen, or ask approvers to enable a held client. */
  async settle(reservation: Reservation, registered: boolean): Promise<void> {
    const pending = this.pending.get(reservation.clientId);
    if (pending?.reservation === reservation) this.pending.delete(reservation.clientId);
    if (!registered) {
      // Nothing to undo when oidc-provider refused before storing (no reservation was written); the delete's row count says.
      if (pending?.state !== 'checked') {
        await withTransaction(this.db, (trx) => this.undoReservation(trx, reservation.clientId, reservation.tokenId, 'refused'));
      }
      return;
    }
    const stored =
      pending?.state === 'stored' ||
      (await withWriteTransaction(
        this.db,
        async (trx) => (await markReservationStored(trx, reservation.clientId)) || (await findRegisteredClient(trx, reservation.clientId))?.state === 'stored',
      ));
    if (!stored) {
      // Slower than reservationBoundMs: the repair has given the use back already, so the client must not stay either.
      await withTransaction(this.db, (trx) => destroyModelsOfClient(trx, reservation.clientId));
      throw new GatehouseError('overloaded', 'the registration took too long and was undone; try again');
    }
    if (reservation.held === 'approval') await this.askApprovers(reservation.clientId);
  }

  /**
   * Settles the reservations a crash left behind (see the module comment):
   * those older than reservationBoundMs, so a registration in flight on another
   * instance is left alone.
   */
  async repairReservations(): Promise<RepairResult> {
    const result: RepairResult = { undone: [] };
    const stale = await listStaleReservations(this.db, this.clock.now() - reservationBoundMs);
    for (const reservation of stale) {
      const undone = await withTransaction(this.db, async (trx) => {
        // The repair takes its turn with registrations: a use given back is counted once.
        await lockForCounting(trx, 'registration');
        return this.undoReservation(trx, reservation.client_id, reservation.registration_token_id, 'interrupted');
      });
      if (undone) result.undone.push(reservation.client_id);
    }
    return result;
  }

  /** Undoes a reservation once; the conditional delete's row count decides who gives the use back. */
  private async undoReservation(trx: DbOrTrx, clientId: string, tokenId: string | null, reason: 'refused' | 'interrupted'): Promise<boolean> {
    if (!(await deleteReservation(trx, clientId))) return false;
    if (tokenId) await returnRegistrationTokenUse(trx, tokenId);
    await deleteClientTokensOfClient(trx, clientId);
    // oidc-provider may have stored the client (and its registration access token) before the failure or crash.
    await destroyModelsOfClient(trx, clientId);
    await this.audit.record(trx, { actor: 'system', action: 'client.registration_undone', subject: clientId, details: { reason } });
    return true;
  }

  /** RFC 7592 update: the rules the client was registered under still hold. */
  async checkUpdate(clientId: string, metadata: Metadata, sourceIp: string): Promise<Metadata> {
    const record = await findRegisteredClient(this.db, clientId);
    if (!record) return metadata;
    if (record.registration_token_id) {
      const token = await findRegistrationToken(this.db, record.registration_token_id);
      const template = parseTemplate(token?.template ?? null);
      checkTemplate(metadata, template);
      return applyTemplateDefaults(metadata, template);
    }
    if (record.via !== 'jwt') {
      await this.checkTrustedSource(sourceIp);
      checkTrustedRedirects(metadata, this.options.registration.policies.trustedHosts);
    }
    return metadata;
  }

  private readonly lastTokenWrites = new Map<string, number>();

  /**
   * A registered client got a token: remembered for `device list` ("last
   * token"), written at most once a minute per client so that the token
   * endpoint does not turn into a write per request. This instance's own map
   * is the first gate (it costs nothing); the write itself is conditional on
   * the stored time being a minute old, so every instance together writes it
   * at most once a minute (db/repos/registration.ts `touchClientTokenTime`).
   */
  noteTokenIssued(clientId: string): void {
    const now = this.clock.now();
    if ((this.lastTokenWrites.get(clientId) ?? 0) > now - 60_000) return;
    if (this.lastTokenWrites.size > 100_000) this.lastTokenWrites.clear();
    this.lastTokenWrites.set(clientId, now);
    touchClientTokenTime(this.db, clientId, now).catch((err: unknown) => this.logger.warn({ err, clientId }, 'could not record the last token time'));
  }

  /** Ends a registration access token; true only for the one caller that ended it. */
  async consumeRegistrationAccessToken(token: string): Promise<boolean> {
    return (await destroyModel(this.db, 'RegistrationAccessToken', token)) === 1;
  }

  /** After an RFC 7592 delete: Gatehouse's record, the client's gating links and its tokens go too. */
  async forget(clientId: string, actor: string): Promise<void> {
    await withTransaction(this.db, async (trx) => {
      await destroyModelsOfClient(trx, clientId);
      await deleteClientTokensOfClient(trx, clientId);
      await deleteRegisteredClient(trx, clientId);
      await this.audit.record(trx, { actor, action: 'client.deleted', subject: clientId });
    });
  }

  private async checkTrustedSource(ip: string): Promise<void> {
    const trusted = this.options.registration.policies.trustedHosts;
    const source = normalizeIp(ip);
    for (const host of trusted) {
      if (isIP(host) ? normalizeIp(host) === source : (await (this.options.resolve ?? resolveHost)(host)).map(normalizeIp).includes(source)) return;
    }
    throw new GatehouseError(
      'registration.invalid_client_metadata',
      `policy trustedHosts: anonymous registration from ${source} is not allowed; present a registration token`,
    );
  }

  // ---- admin operations -------------------------------------------------

  /** A registered client's record; static clients are configured in config.yaml and cannot be changed here. */
  async record(clientId: string, db: DbOrTrx = this.db): Promise<RegisteredClientRow> {
    const record = await findRegisteredClient(db, clientId);
    if (record?.disabled_reason === 'revoked') throw new GatehouseError('not_found', `no client with id ${clientId} (it was revoked)`);
    if (record?.state === 'reserved') throw new GatehouseError('not_found', `no client with id ${clientId} (its registration has not finished)`);
    if (record) return record;
    if (this.clients.staticIds().includes(clientId)) throw new GatehouseError('input.invalid', `${clientId} is a static client: change it in config.yaml`);
    if (await this.clients.exists(clientId, db)) {
      // Registered before Gatehouse kept records (or through the adapter directly): adopt it.
      const row: RegisteredClientRow = {
        client_id: clientId,
        registration_token_id: null,
        via: 'rfc7591',
        kind: 'application',
        disabled_reason: null,
        disabled_at: null,
        created_at: this.clock.now(),
      };
      await insertRegisteredClient(db, row);
      return row;
    }
    throw new GatehouseError('not_found', `no client with id ${clientId}`);
  }

  async setEnabled(clientId: string, enabled: boolean, actor: string): Promise<RegisteredClientRow> {
    return withTransaction(this.db, async (trx) => {
      const record = await this.record(clientId, trx);
      const now = this.clock.now();
      await setClientDisabled(trx, clientId, enabled ? null : 'admin', now);
      if (enabled) await retireClientApprovalLinks(trx, clientId, now);
      await this.audit.record(trx, { actor, action: enabled ? 'client.enabled' : 'client.disabled', subject: clientId });
      return { ...record, disabled_reason: enabled ? null : 'admin', disabled_at: enabled ? null : now };
    });
  }

  /**
   * Deletes a registered client: its metadata, Gatehouse's record, its gating
   * links, and its grants, tokens and codes, all in one transaction, so a client
   * registered later under the same id inherits nothing.
   */
  async delete(clientId: string, actor: string): Promise<RegisteredClientRow> {
    return withTransaction(this.db, async (trx) => {
      const record = await this.record(clientId, trx);
      await destroyModelsOfClient(trx, clientId);
      await deleteClientTokensOfClient(trx, clientId);
      // A device enrolled with a device token still carries the fleet's JWT: its record stays, marked, so it cannot enroll again.
      if (record.manufacturer_id) await setClientDisabled(trx, clientId, 'revoked', this.clock.now());
      else await deleteRegisteredClient(trx, clientId);
      await this.audit.record(trx, { actor, action: 'client.deleted', subject: clientId });
      return record;
    });
  }

  /**
   * Sets a registered client's own approvers (SPEC 9, `client set-approvers`):
   * they get the mails for its join and access requests and, while it waits
   * for approval, its approval mail (sent to them now, the old links retired).
   * An empty list clears them: the global approvers decide again. Static
   * clients keep theirs in config.yaml and are refused.
   */
  async setApprovers(clientId: string, emails: string[], actor: string): Promise<RegisteredClientRow> {
    if (this.clients.staticIds().includes(clientId)) {
      throw new GatehouseError('input.invalid', `${clientId} is a static client: its approvers are set in config.yaml (clients[].approvers)`);
    }
    const approvers = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
    const bad = approvers.find((e) => !isEmail(e));
    if (bad !== undefined) throw new GatehouseError('input.invalid', `"${bad}" is not an e-mail address`, { field: 'approvers' });
    if (approvers.length > 50) throw new GatehouseError('input.invalid', 'a client has at most 50 approvers', { field: 'approvers' });
    const updated = await withTransaction(this.db, async (trx) => {
      const record = await this.record(clientId, trx);
      await setRegisteredClientApprovers(trx, clientId, approvers);
      await this.audit.record(trx, { actor, action: 'client.approvers_set', subject: clientId, details: { approvers } });
      return { ...record, approvers: approvers.length ? JSON.stringify(approvers) : null };
    });
    if (updated.disabled_reason === 'approval' && approvers.length > 0) {
      await withTransaction(this.db, (trx) => retireClientApprovalLinks(trx, clientId, this.clock.now()));
      await this.askApprovers(clientId);
    }
    return updated;
  }

  /**
   * Lists a registered client to people at `/account/browse` ("Other apps",
   * where those without access ask for it) or stops listing it; audited
   * `client.discoverable_set`. Static clients keep theirs in config.yaml and
   * are refused.
   */
  async setDiscoverable(clientId: string, discoverable: boolean, actor: string): Promise<RegisteredClientRow> {
    return this.setFlag(clientId, 'discoverable', discoverable, actor);
  }

  /**
   * Makes a registered client require a second factor at every sign-in (the
   * `mfa` prompt: the person gives one, or sets one up, before the code is
   * issued) or stops requiring it; audited `client.require_mfa_set`. Static
   * clients keep theirs in config.yaml and are refused.
   */
  async setRequireMfa(clientId: string, requireMfa: boolean, actor: string): Promise<RegisteredClientRow> {
    return this.setFlag(clientId, 'requireMfa', requireMfa, actor);
  }

  /** Sets one of a registered client's yes/no settings (`clientFlags`), audited; static clients are refused. */
  private async setFlag(clientId: string, flag: keyof typeof clientFlags, value: boolean, actor: string): Promise<RegisteredClientRow> {
    const { column, action, words } = clientFlags[flag];
    if (this.clients.staticIds().includes(clientId)) {
      throw new GatehouseError('input.invalid', `${clientId} is a static client: ${words} is set in config.yaml (clients[].${flag})`);
    }
    return withTransaction(this.db, async (trx) => {
      const record = await this.record(clientId, trx);
      await setRegisteredClientFlag(trx, clientId, column, value);
      await this.audit.record(trx, { actor, action, subject: clientId, details: { [flag]: value } });
      return { ...record, [column]: value };
    });
  }

  listRegistered(kind?: RegisteredClientRow['kind']): Promise<RegisteredClientRow[]> {
    return listRegisteredClients(this.db, kind);
  }

  findRecord(clientId: string): Promise<RegisteredClientRow | undefined> {
    return findRegisteredClient(this.db, clientId);
  }

  // ---- approval links ---------------------------------------------------

  private async askApprovers(clientId: string): Promise<void> {
    const own = approversOfRecord(await findRegisteredClient(this.db, clientId));
    const approvers = own.length ? own : this.options.approvers;
    if (approvers.length === 0) {
      this.logger.warn(
        { clientId },
        'a client waits for approval but no approvers are configured (firstauth.mailer.receiver or admins); enable it with `gatehouse client enable`',
      );
      return;
    }
    const client = await this.clients.find(clientId);
    await withTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      for (const approver of approvers) {
        const link = randomSecret(32);
        await insertClientApprovalLink(trx, {
          token_hash: sha256(link),
          client_id: clientId,
          approver,
          expires_at: now + this.options.linkTtlMs,
          used_at: null,
        });
        await this.outbox.enqueue(trx, {
          to: approver,
          subject: `A new client waits for approval: ${client?.name ?? clientId}`,
          template: 'client-approval',
          context: {
            brand: this.options.brand,
            clientId,
            clientName: client?.name ?? null,
            redirectUris: client?.redirectUris ?? [],
            grantTypes: client?.grantTypes ?? [],
            enableLink: `${this.options.issuer}/approval/client/${link}`,
            expiresDays: Math.round(this.options.linkTtlMs / 86_400_000),
          },
        });
      }
      await this.audit.record(trx, { actor: 'system', action: 'client.approval_requested', subject: clientId, details: { approvers } });
    });
  }

  /** What a client approval link's confirmation page shows. Changes nothing. */
  async viewLink(
    token: string,
  ): Promise<{ link: ClientApprovalLinkRow; record: RegisteredClientRow; clientName: string; redirectUris: string[]; grantTypes: string[] }> {
    const link = token.length <= 100 ? await findClientApprovalLink(this.db, sha256(token)) : undefined;
    const record = link ? await findRegisteredClient(this.db, link.client_id) : undefined;
    const client = link ? await this.clients.find(link.client_id) : undefined;
    if (!link || !record || !client)
      throw new GatehouseError('approval_link.invalid', 'This link is not valid. It may have been mistyped, or the client was deleted.');
    if (link.used_at !== null || link.expires_at <= this.clock.now())
      throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
    return { link, record, clientName: client.name ?? client.clientId, redirectUris: client.redirectUris, grantTypes: client.grantTypes };
  }

  /** The confirmation page's POST: enables the client, once. */
  async actOnLink(token: string): Promise<{ clientId: string; clientName: string }> {
    const view = await this.viewLink(token);
    await withTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      if (!(await useClientApprovalLink(trx, view.link.token_hash, now)))
        throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
      await setClientDisabled(trx, view.record.client_id, null, now);
      await retireClientApprovalLinks(trx, view.record.client_id, now);
      await this.audit.record(trx, { actor: view.link.approver, action: 'client.enabled', subject: view.record.client_id, details: { via: 'approval_link' } });
    });
    return { clientId: view.record.client_id, clientName: view.clientName };
  }
}
