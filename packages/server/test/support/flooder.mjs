// A hostile publisher for the fairness test, in its own process so that its loop does not share an
// event loop with the hub or the client being measured. It connects from `localAddress` and pipelines
// publishes as fast as the socket takes them, never waiting for an answer; when the hub closes it, it
// reconnects after `reconnectMs` and floods again. It stops by itself after `seconds` and prints what
// it saw as one JSON line.
import { WebSocket } from 'ws';

const [url, localAddress, seconds, reconnectMs] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5] ?? 100)];
const deadline = Date.now() + seconds * 1000;
const seen = { sent: 0, published: 0, rateLimited: 0, otherErrors: 0, closes: {} };
const frame = (n) => `{"op":"publish","id":${n},"channel":"flood","event":{"type":"flood","data":{"n":${n}}}}`;

function connect() {
  if (Date.now() > deadline) return finish();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { localAddress });
  let open = false;
  ws.on('open', () => {
    open = true;
    process.stdout.write('flooding\n');
    const pump = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() > deadline) return ws.close();
      // As fast as the socket takes it, without buffering without bound in this process (and without
      // spinning while the socket is full: this process must not take the CPU the hub needs).
      while (ws.bufferedAmount < 256 * 1024) ws.send(frame(seen.sent++));
      setTimeout(pump, 1);
    };
    pump();
  });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.includes('"op":"published"')) seen.published++;
    else if (text.includes('"rate_limited"')) seen.rateLimited++;
    else if (text.includes('"op":"error"')) seen.otherErrors++;
  });
  ws.on('error', () => {});
  ws.on('close', (code) => {
    seen.closes[code] = (seen.closes[code] ?? 0) + 1;
    setTimeout(connect, open ? reconnectMs : 2 * reconnectMs);
  });
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  // Exits even if nobody reads the report any more (a write to a closed pipe fails).
  process.stdout.write(JSON.stringify(seen) + '\n', () => process.exit(0));
  setTimeout(() => process.exit(0), 200);
}

process.stdout.on('error', () => process.exit(0));
connect();
// Stops by itself whatever happens to the hub or the test.
setTimeout(finish, seconds * 1000 + 2000);
process.on('SIGTERM', finish);
