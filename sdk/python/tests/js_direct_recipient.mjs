// A WebSocket recipient of direct messages for test_direct.py (the SDK opens no WebSocket): connects
// as the given client id and prints the hub's hello and every direct message as one JSON line each.
// Usage: node js_direct_recipient.mjs <hub url> <client id> [credential]; ends when stdin closes.
import { WebSocket } from 'ws';

const [url, clientId, credential] = process.argv.slice(2);
const headers = credential ? { authorization: `Bearer ${credential}` } : {};
const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(clientId)}`, { headers });
ws.on('message', (data) => {
  const parsed = JSON.parse(data.toString());
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) if (message.op === 'hello' || message.op === 'direct') console.log(JSON.stringify(message));
});
ws.on('close', () => process.exit(0));
process.stdin.on('end', () => ws.close());
process.stdin.resume();
