import { CloseCodes, type SenderInfo } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import { ownerOf, type DirectMailbox, type DirectMessageBody, type DirectRecipient, type DirectStatus } from '../direct/mailbox.js';
import type { AppendInput } from '../store/types.js';
import type { ClientDirectory } from './client-directory.js';
import { PeerGone, PeerSilent, type PeerLink, type PeerMessage } from './peers.js';

/** How long a hub waits for the hub of a client id to say delivered or queued. */
export const DIRECT_ASK_TIMEOUT_MS = 2000;
/** How long a new connection's mail is held while the hub it was on before hands over what it kept. */
export const HANDOVER_TIMEOUT_MS = 2000;
/** Client ids just found unknown, remembered this long so a flood of sends to them costs no Redis read. */
export const UNKNOWN_CACHE_MS = 500;
const MAX_UNKNOWN_CACHED = 1000;

/**
 * Direct messages across the hubs of one Redis. The mailbox of each hub keeps doing what it does for
 * its own connections; this adds the client directory (which hub holds an id) and three messages
 * between hubs: `direct.deliver` (a send from another hub), `direct.claim` (the id connected elsewhere
 * with the same credential: close it here with 4006 and hand its kept mail over) and `direct.handed`
 * (one kept message, sent in order before the claim's answer on the same connection, so it arrives in
 * order). Mail handed over leaves the old hub when it is sent: it is delivered once or lost with a
 * hub, never twice.
 */
export class DirectRelay {
  /** Connections whose claim on their id succeeded (this hub refreshes and clears their entries). */
  private readonly claimed = new Map<string, DirectRecipient>();
  /** Connections whose claim is in flight. */
  private readonly claiming = new Set<DirectRecipient>();
  /** Mail handed over by another hub for ids whose claim is in flight, oldest first. */
  private readonly arriving = new Map<string, DirectMessageBody[]>();
  /** Ids found in no hub's directory entry, until when (see UNKNOWN_CACHE_MS). */
  private readonly unknown = new Map<string, number>();
  /** Shutting down: connections closed now leave their entries to expire (Redis is being let go). */
  private closed = false;

  constructor(
    private readonly peers: PeerLink,
    private readonly directory: ClientDirectory,
    private readonly mailbox: DirectMailbox,
    private readonly queueCount: () => number,
    private readonly onError: (error: unknown, what: string) => void,
  ) {
    peers.handle('direct.deliver', (message) => this.deliverHere(message));
    peers.handle('direct.claim', (message, from) => this.handOver(message, from));
    peers.handle('direct.handed', (message) => this.received(message));
  }

  /**
   * A connection was admitted: its mail is held until the id's entry is claimed and any mail kept on
   * the hub it was on is handed over; then it is greeted (so, from hello on, a send on any hub finds it)
   * and gets all of it. A Redis or hub that fails only makes it local: it is greeted all the same.
   */
  connected(recipient: DirectRecipient, greet: () => void): void {
    this.unknown.delete(recipient.clientId);
    this.mailbox.connected(recipient, true);
    this.claiming.add(recipient);
    void this.claim(recipient, greet);
  }

  disconnected(recipient: DirectRecipient): void {
    this.mailbox.disconnected(recipient);
    if (this.claiming.delete(recipient)) return;
    if (this.claimed.get(recipient.clientId) !== recipient) return;
    this.claimed.delete(recipient.clientId);
    // A send to them meanwhile finds this hub gone (PUBLISH reaches nobody): unknown_client, as documented.
    if (this.closed) return;
    this.directory.away(recipient.clientId).catch((error: unknown) => this.onError(error, 'marking a client id away in the directory'));
  }

  /** Writes or keeps the message here if this hub holds the id; else asks the hub the directory names. */
  async send(to: string, from: SenderInfo, input: AppendInput): Promise<DirectStatus> {
    if (this.mailbox.holds(to)) return this.mailbox.deliver(to, from, input);
    const now = Date.now();
    if ((this.unknown.get(to) ?? 0) > now) throw unknownClient(to);
    const entry = await this.directory.lookup(to);
    // Its entry names this hub but the mailbox forgot it (its window passed): unknown, as on one hub.
    if (!entry || entry.node === this.peers.self) {
      this.remember(to, now);
      throw unknownClient(to);
    }
    try {
      const answer = await this.peers.ask(entry.node, { kind: 'direct.deliver', to, from, event: input.event }, DIRECT_ASK_TIMEOUT_MS);
      return answer.status === 'queued' ? 'queued' : 'delivered';
    } catch (error) {
      // Nobody heard it: the hub that held the id is gone (its mail with it) — unless it still reports to
      // the node registry, and only its peer connection is reconnecting.
      if (error instanceof PeerGone && !error.reached && !(await this.directory.nodeAlive(entry.node))) {
        void this.directory.forgetDead(to, entry.node);
        throw new HeraldError('unknown_client', `client id "${to}" was on a hub that is gone; nothing is kept for it`);
      }
      if (error instanceof PeerGone || error instanceof PeerSilent) {
        throw new HeraldError('storage_unavailable', `the hub holding client id "${to}" did not answer; the message may not have been delivered — send it again`);
      }
      throw error;
    }
  }

  close(): void {
    this.closed = true;
    this.directory.close();
  }

  private async claim(recipient: DirectRecipient, greet: () => void): Promise<void> {
    const { clientId } = recipient;
    let handed: DirectMessageBody[] = [];
    try {
      const outcome = await this.directory.claim(clientId, ownerOf(recipient.principal));
      if (!outcome.claimed) {
        // Another credential holds the id on the cluster: as on one hub, this connection is not addressable by it.
        this.claiming.delete(recipient);
        this.mailbox.disown(recipient);
        if (recipient.isOpen) greet();
        return;
      }
      if (!this.claiming.has(recipient)) {
        // It closed while claiming: from now on its entry lasts the queue window, like any away id's.
        await this.directory.away(clientId);
        return;
      }
      this.claimed.set(clientId, recipient);
      if (outcome.previous !== undefined) handed = await this.fetchKept(clientId, ownerOf(recipient.principal), outcome.previous);
    } catch (error) {
      // Redis or the other hub failed: this hub still delivers to the connection what it is sent here.
      this.onError(error, 'claiming a client id in the directory');
    } finally {
      this.claiming.delete(recipient);
      if (recipient.isOpen) greet();
      this.mailbox.release(recipient, handed);
    }
  }

  /** Asks the hub that held the id before to give it up; collects the mail it sends ahead of its answer. */
  private async fetchKept(clientId: string, owner: string, previous: string): Promise<DirectMessageBody[]> {
    const mail = this.arriving.get(clientId) ?? [];
    this.arriving.set(clientId, mail);
    try {
      await this.peers.ask(previous, { kind: 'direct.claim', clientId, owner }, HANDOVER_TIMEOUT_MS);
    } catch (error) {
      // Gone or silent: what it sent so far is delivered, the rest is lost (never sent twice).
      if (!(error instanceof PeerGone) && !(error instanceof PeerSilent)) throw error;
    } finally {
      if (this.arriving.get(clientId) === mail) this.arriving.delete(clientId);
    }
    return mail;
  }

  private deliverHere(message: PeerMessage): PeerMessage {
    const { to, from, event } = message as unknown as { to: string; from: SenderInfo; event: AppendInput['event'] };
    const status = this.mailbox.deliver(String(to), from ?? {}, { event, json: JSON.stringify(event) } as AppendInput);
    return { kind: 'direct.sent', status };
  }

  /** Another hub took the id for the same credential: the connection here is replaced, its mail goes there. */
  private handOver(message: PeerMessage, from: string): PeerMessage {
    const clientId = String(message.clientId);
    const { mail, live } = this.mailbox.handOver(clientId, String(message.owner));
    if (live !== undefined && this.claimed.get(clientId) === live) this.claimed.delete(clientId);
    this.directory.moved(clientId);
    // Same connection as the answer (published after these): they reach the new hub before it.
    for (const kept of mail) this.peers.send(from, { kind: 'direct.handed', clientId, message: kept }).catch(() => {});
    live?.close(CloseCodes.replaced.code, 'replaced by a new connection with this client id and credentials on another hub');
    return { kind: 'direct.handedOver', count: mail.length };
  }

  private received(message: PeerMessage): void {
    const mail = this.arriving.get(String(message.clientId));
    // Nothing waits for it (the claim gave up): dropped, not kept twice. At most a queue's worth.
    if (mail && mail.length < this.queueCount()) mail.push(message.message as DirectMessageBody);
  }

  private remember(to: string, now: number): void {
    this.unknown.delete(to);
    this.unknown.set(to, now + UNKNOWN_CACHE_MS);
    if (this.unknown.size > MAX_UNKNOWN_CACHED) this.unknown.delete(this.unknown.keys().next().value!);
  }
}

function unknownClient(to: string): HeraldError {
  return new HeraldError('unknown_client', `no hub has a connection with the client id "${to}", and none had it recently enough to keep mail for it`);
}
