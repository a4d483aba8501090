// A minimal SMTP server for scripts/container-recipe.sh: accepts every message on 127.0.0.1:PORT
// and appends one line per message received (its envelope, never its body) to FILE.
//   node scripts/smtp-catcher.mjs PORT FILE
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';

const [port, file] = process.argv.slice(2);
createServer((socket) => {
  let buffer = '';
  let inData = false;
  let envelope = { from: '', to: [] };
  const reply = (line) => socket.write(line + '\r\n');
  reply('220 recipe-catcher ESMTP');
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n');
        if (end < 0) return;
        buffer = buffer.slice(end + 5);
        inData = false;
        appendFileSync(file, JSON.stringify(envelope) + '\n');
        envelope = { from: '', to: [] };
        reply('250 OK: queued');
        continue;
      }
      const at = buffer.indexOf('\r\n');
      if (at < 0) return;
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') reply('250-recipe-catcher\r\n250 8BITMIME');
      else if (verb === 'HELO') reply('250 recipe-catcher');
      else if (verb === 'MAIL') ((envelope.from = line.slice(10).trim()), reply('250 OK'));
      else if (verb === 'RCPT') (envelope.to.push(line.slice(8).trim()), reply('250 OK'));
      else if (verb === 'DATA') ((inData = true), reply('354 End data with <CR><LF>.<CR><LF>'));
      else if (verb === 'RSET') ((envelope = { from: '', to: [] }), reply('250 OK'));
      else if (verb === 'NOOP') reply('250 OK');
      else if (verb === 'QUIT') (reply('221 Bye'), socket.end());
      else reply('502 Command not implemented');
    }
  });
  socket.on('error', () => undefined);
}).listen(Number(port), '127.0.0.1');
