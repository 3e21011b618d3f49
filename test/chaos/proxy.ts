// A TCP proxy between the daemons and PostgreSQL that can delay, partition and reset
// connections, the network faults a real deployment sees. A partition holds bytes back (as TCP
// retransmission would) rather than losing them, so a stream is never silently corrupted.
import net from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'partition' };

export class FaultyProxy {
  private current: ProxyMode = { kind: 'pass' };
  private healed: Promise<void> = Promise.resolve();
  private heal: () => void = () => {};
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.connect(client));
  }

  get mode(): ProxyMode {
    return this.current;
  }

  set mode(mode: ProxyMode) {
    if (mode.kind === 'partition' && this.current.kind !== 'partition') this.healed = new Promise((resolve) => (this.heal = resolve));
    if (mode.kind !== 'partition') this.heal();
    this.current = mode;
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Destroys every open connection at once (both sides see a reset). */
  resetAll(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.resetAndDestroy();
    return n;
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect(this.target);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  /** Forwards bytes in order, through the current fault: delayed, or held until a partition heals. */
  private pipe(from: net.Socket, to: net.Socket): void {
    let chain = Promise.resolve();
    const write = (chunk: Buffer) => void (to.writable && to.write(chunk));
    from.on('data', (chunk: Buffer) => {
      const mode = this.current;
      if (mode.kind === 'partition') {
        const healed = this.healed;
        chain = chain.then(() => healed).then(() => write(chunk));
      } else if (mode.kind === 'delay') {
        chain = chain.then(() => new Promise<void>((resolve) => setTimeout(() => resolve(write(chunk)), mode.ms)));
      } else {
        chain = chain.then(() => write(chunk));
      }
    });
    from.on('end', () => void chain.then(() => to.end()));
  }
}
