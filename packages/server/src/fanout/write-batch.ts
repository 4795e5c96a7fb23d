/** A socket that can hold its writes back and send them as one (net.Socket). */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * The sockets written to while one batch of several events fans out (a group commit's events of a
 * channel, a refilled gap). Each is corked at its first event and all are uncorked together once the
 * batch is out, synchronously: a subscriber that gets five events of a commit gets them in one write
 * (one writev) instead of five, and none waits for a later turn. A batch of one event holds nothing back.
 */
export class WriteBatch {
  private readonly held: Corkable[] = [];
  private open = true;

  /** Corks `socket` for the rest of the batch; false once the batch is out (a held replay delivered later). */
  hold(socket: Corkable): boolean {
    if (!this.open) return false;
    socket.cork();
    this.held.push(socket);
    return true;
  }

  /** Sends what every held socket was written, each in one write. */
  release(): void {
    this.open = false;
    for (const socket of this.held) socket.uncork();
    this.held.length = 0;
  }
}
