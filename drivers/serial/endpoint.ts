/** The far end of a serial cable as the simulators and fakes see it: bytes in, bytes out. */

export interface ByteEndpoint {
  /** Sends bytes towards the host; resolves once they are handed to the link. */
  write(data: Uint8Array): Promise<void>;
  /** Bytes the host wrote; returns an unsubscribe function. */
  onData(listener: (chunk: Buffer) => void): () => void;
}

interface StreamLike {
  write(chunk: Buffer, cb: (err?: Error | null) => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/** A `ByteEndpoint` over a stream such as a `SerialPortStream` opened on the other pty of a pair. */
export function streamEndpoint(stream: StreamLike): ByteEndpoint {
  return {
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        stream.write(Buffer.from(data), (err) => (err ? reject(err) : resolve()));
      }),
    onData(listener) {
      stream.on('data', listener);
      return () => void stream.off('data', listener);
    },
  };
}
