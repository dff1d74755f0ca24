/**
 * Hostile HTTP clients for the console bench, run in their own process so that their sockets do not
 * share the gate's event loop: `node hostile-clients.js PORT COUNT SECONDS`.
 *
 * Half of them are slowloris (a request line, then one header byte a second, never finishing), half
 * idle (connect and say nothing). Whatever the server closes is reopened 50 ms later, so COUNT
 * connections are attempted all the time. Prints one JSON line at the end: how many were opened.
 */
import { connect, type Socket } from 'node:net';

const [port, count, seconds] = process.argv.slice(2).map(Number) as [number, number, number];
let opened = 0;
let stopping = false;
const open = new Set<Socket>();

function one(slow: boolean): void {
  if (stopping) return;
  opened++;
  const s = connect(port, '127.0.0.1');
  open.add(s);
  let timer: NodeJS.Timeout | null = null;
  s.on('connect', () => {
    if (!slow) return;
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    timer = setInterval(() => s.write('a'), 1000);
  });
  s.on('error', () => {});
  s.on('close', () => {
    open.delete(s);
    if (timer) clearInterval(timer);
    setTimeout(() => one(slow), 50);
  });
}

for (let i = 0; i < count; i++) setTimeout(() => one(i % 2 === 0), i % 200); // ramp over 200 ms
function finish(): void {
  stopping = true;
  for (const s of open) s.destroy();
  process.stdout.write(`${JSON.stringify({ opened })}\n`);
  process.exit(0);
}
setTimeout(finish, seconds * 1000);
process.on('SIGTERM', finish);
