// A process holding idle WebSocket connections to a hub, each subscribed to one channel:
// `node idle-clients.mjs <ws url> <count>`. Tells its parent 'open' once all are subscribed; any message
// from the parent closes them and exits.
import WebSocket from 'ws';

const [url, count] = [process.argv[2], Number(process.argv[3])];
const sockets = [];
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.includes('"op":"hello"')) ws.send(JSON.stringify({ op: 'subscribe', id: 1, channel: 'idle.watch' }));
      if (text.includes('"op":"subscribed"')) resolve();
    });
    ws.on('error', reject);
  });
  sockets.push(ws);
}
process.send('open');
process.on('message', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
