/**
 * A password for `passgate guard add`: read from standard input when it is not a terminal (first
 * line; scripts, provisioning), or prompted twice without echo when it is.
 */
import { PassgateError } from '../../base/errors.js';

export async function readPassword(stdin: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of stdin as AsyncIterable<Buffer>) {
      chunks.push(c);
      size += c.length;
      if (size > 64 * 1024) throw new PassgateError('BAD_CONFIG', 'the password on standard input is too long');
    }
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const first = await hidden(stdin, prompt, 'password: ');
  const again = await hidden(stdin, prompt, 'again: ');
  if (first !== again) throw new PassgateError('BAD_CONFIG', 'the two passwords differ');
  return first;
}

/** One line from the terminal with echo off (raw mode: nothing typed is shown). */
function hidden(stdin: NodeJS.ReadStream, out: NodeJS.WriteStream, question: string): Promise<string> {
  out.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let buf: string[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      out.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          return resolve(buf.join(''));
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          return reject(new PassgateError('BAD_CONFIG', 'no password given'));
        }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else if (ch >= ' ') buf.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}
