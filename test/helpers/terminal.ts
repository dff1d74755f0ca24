/**
 * A command on a real pseudo-terminal, as a person at the gate runs it: `script` gives it a tty
 * (isatty true, echo on until the program turns it off); the test reads the screen and types.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { waitFor } from './wait.js';

const SCRIPT = '/usr/bin/script';
/** `script` (util-linux) is there: tests on a terminal are skipped without it. */
export const hasTerminal = existsSync(SCRIPT);
export const CTRL_C = '\u0003';
export const CTRL_D = '\u0004';

/** What the person sees: the transcript without the cursor-movement escapes readline writes. */
const screen = (raw: string) => raw.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');

export class Terminal {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  #raw = '';
  /** How far the person has read: a prompt asked again is found after its first asking. */
  #read = 0;

  /** Runs `argv` (quoted for the shell `script` starts). */
  constructor(argv: string[]) {
    const command = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // -e: script exits with the command's status; the transcript goes nowhere but our pipe.
    this.child = spawn(SCRIPT, ['-qec', command, '/dev/null']);
    this.child.stdout.on('data', (d: Buffer) => (this.#raw += d.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  get screen(): string {
    return screen(this.#raw);
  }

  /** Waits until `text` appears after what was read so far. */
  async see(text: string): Promise<void> {
    try {
      this.#read = await waitFor(
        () => {
          const at = this.screen.indexOf(text, this.#read);
          return at >= 0 ? at + text.length : 0;
        },
        { what: JSON.stringify(text) },
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; the screen after what was read:\n${this.screen.slice(this.#read)}`);
    }
  }

  /** Waits for the prompt, then types the answer and Enter. */
  async answer(prompt: string, answer: string): Promise<void> {
    await this.see(prompt);
    this.child.stdin.write(`${answer}\r`);
  }

  async press(prompt: string, key: string): Promise<void> {
    await this.see(prompt);
    this.child.stdin.write(key);
  }

  /** Closes the input and waits for the exit status. */
  async status(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }

  /** Kills the command if it still runs (afterEach). */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill();
      await this.exited;
    }
  }
}
