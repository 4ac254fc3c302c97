// A serial cable between two pseudo-terminals, as its own small process (the
// job socat used to do, with nothing to install): opens two ptys with
// node-pty, prints {"dock": path, "host": path} on one line, then copies
// bytes between their master sides until its stdin closes (its parent went
// away) or it is killed. Its own process, so the line keeps moving while the
// process that made it is busy (a test waiting in spawnSync, an engine
// formatting flash). Plain JavaScript: it starts in tens of milliseconds.
import { write } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function openPty() {
  const t = require('node-pty').open({ encoding: null });
  // node-pty reads the slave in this process: stop that for good (its deferred
  // resume would steal bytes meant for the client), but keep the slave open so
  // the master never sees a hang-up between clients. Raw at once: a cooked
  // slave would echo the dock's output back before a client sets its termios.
  const slave = t._slave;
  slave._read = () => {};
  slave.pause();
  slave._handle.readStop();
  slave.removeAllListeners('data');
  slave.setRawMode(true);
  t._master.on('error', () => {}); // a client closing its end is not an error of the line
  return { fd: t._fd, path: t._pty, master: t._master };
}

// Writes to a master fd: non-blocking (node's tty stream would block on a full buffer), in order, retried on EAGAIN.
function writer(fd) {
  const queue = [];
  let busy = false;
  const pump = () => {
    if (busy || queue.length === 0) return;
    busy = true;
    const chunk = queue[0];
    write(fd, chunk, 0, chunk.length, null, (err, n) => {
      busy = false;
      if (err) {
        if (err.code === 'EAGAIN') return void setTimeout(pump, 2);
        process.exit(0); // the pty is gone
      }
      if (n < chunk.length) queue[0] = chunk.subarray(n);
      else queue.shift();
      pump();
    });
  };
  return (chunk) => {
    queue.push(chunk);
    pump();
  };
}

const dock = openPty();
const host = openPty();
const toDock = writer(dock.fd);
const toHost = writer(host.fd);
dock.master.on('data', (chunk) => toHost(chunk));
host.master.on('data', (chunk) => toDock(chunk));
process.stdout.write(`${JSON.stringify({ dock: dock.path, host: host.path })}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
