// Tests of the SSE parser (chunks split anywhere) and the reconnecting reader.
import { describe, expect, it, vi } from 'vitest';
import { SseParser, backoffDelay, openEventStream, type ConnectionState, type SseMessage } from './sse';
import { onUnauthorized } from './client';

function feed(chunks: string[]): SseMessage[] {
  const parser = new SseParser();
  return chunks.flatMap((c) => parser.push(c));
}

describe('SseParser', () => {
  const stream = 'event: snapshot\ndata: {"now":"x","pods":[]}\n\n: keep-alive\n\nevent: update\ndata: {"a":1}\n\n';

  it('parses whole events and skips comments', () => {
    expect(feed([stream])).toEqual([
      { event: 'snapshot', data: '{"now":"x","pods":[]}', id: null },
      { event: 'update', data: '{"a":1}', id: null },
    ]);
  });

  it('gives the same events however the bytes are split, even mid-line', () => {
    const whole = feed([stream]);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(feed([stream.slice(0, cut), stream.slice(cut)])).toEqual(whole);
    }
    expect(feed(stream.split(''))).toEqual(whole);
  });

  it('handles CRLF and CR line endings, also split between CR and LF', () => {
    const crlf = 'event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r';
    const expected = [
      { event: 'a', data: '1', id: null },
      { event: 'b', data: '2', id: null },
    ];
    expect(feed([crlf])).toEqual(expected);
    for (let cut = 1; cut < crlf.length; cut++) expect(feed([crlf.slice(0, cut), crlf.slice(cut)])).toEqual(expected);
  });

  it('joins multi-line data, defaults the type, keeps the id and strips one space', () => {
    expect(feed(['id: 7\ndata:first\ndata:  second\n\n'])).toEqual([{ event: 'message', data: 'first\n second', id: '7' }]);
  });

  it('dispatches nothing for an event without data, and waits for the blank line', () => {
    const parser = new SseParser();
    expect(parser.push('event: ping\n\n')).toEqual([]);
    expect(parser.push('data: x\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'message', data: 'x', id: null }]);
  });

  it('drops a leading byte-order mark and reads retry', () => {
    const parser = new SseParser();
    expect(parser.push('\ufeffretry: 1500\ndata: y\n\n')).toEqual([{ event: 'message', data: 'y', id: null }]);
    expect(parser.retryMs).toBe(1500);
  });
});

describe('backoffDelay', () => {
  it('starts at 0.5 s, doubles, stops at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 9].map((n) => backoffDelay(n))).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });
});

function sseResponse(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
  return new Response(body, { status, headers: { 'content-type': 'text/event-stream' } });
}

describe('openEventStream', () => {
  it('reconnects with growing delays after failures, resets after a message, and stops on request', async () => {
    const answers: Array<() => Response> = [
      () => {
        throw new TypeError('network down');
      },
      () => new Response('{"error":"unavailable","message":"later"}', { status: 503 }),
      () => sseResponse(['event: snapshot\ndata: {"n":1}\n\n']),
      () => sseResponse(['event: update\ndata: {"n":2}\n\n']),
    ];
    const delays: number[] = [];
    const states: ConnectionState[] = [];
    const got: string[] = [];
    let close = () => {};
    const done = new Promise<void>((resolve) => {
      close = openEventStream('/api/x', {
        fetchImpl: (async () => answers.shift()!()) as typeof fetch,
        sleep: async (ms) => {
          delays.push(ms);
        },
        onState: (s) => states.push(s),
        onMessage: (m) => {
          got.push(`${m.event}:${m.data}`);
          if (got.length === 2) {
            resolve();
            return 'stop';
          }
        },
      });
    });
    await done;
    close();
    expect(got).toEqual(['snapshot:{"n":1}', 'update:{"n":2}']);
    // two failures (0.5 s, 1 s), then a stream that ended after a message: back to 0.5 s
    expect(delays).toEqual([500, 1000, 500]);
    expect(states).toEqual(['connecting', 'reconnecting', 'live', 'reconnecting', 'live']);
  });

  it('turns the dot red after three failures in a row', async () => {
    const states: ConnectionState[] = [];
    let calls = 0;
    await new Promise<void>((resolve) => {
      const close = openEventStream('/api/x', {
        fetchImpl: (async () => {
          calls++;
          if (calls === 4) {
            close();
            resolve();
          }
          throw new TypeError('down');
        }) as typeof fetch,
        sleep: async () => {},
        onState: (s) => states.push(s),
        onMessage: () => {},
      });
    });
    expect(states).toEqual(['connecting', 'reconnecting', 'down']);
  });

  it('signs out on an unauthorized event and on a 401', async () => {
    const messages: string[] = [];
    onUnauthorized((m) => messages.push(m));
    const run = (response: Response) =>
      new Promise<void>((resolve) => {
        openEventStream('/api/x', {
          fetchImpl: (async () => response) as typeof fetch,
          sleep: async () => {},
          onState: () => {},
          onMessage: () => {},
        });
        setTimeout(resolve, 20);
      });
    await run(sseResponse(['event: unauthorized\ndata: {"error":"unauthorized","message":"token revoked"}\n\n']));
    await run(new Response('{"error":"unauthorized","message":"token expired"}', { status: 401 }));
    expect(messages).toEqual(['token revoked', 'token expired']);
    onUnauthorized(() => {});
  });

  it('stops with onFatal on a 404', async () => {
    const onFatal = vi.fn();
    await new Promise<void>((resolve) => {
      openEventStream('/api/x', {
        fetchImpl: (async () => new Response('{"error":"not_found","message":"no such mirror"}', { status: 404 })) as typeof fetch,
        onMessage: () => {},
        onFatal: (e) => {
          onFatal(e.message);
          resolve();
        },
      });
    });
    expect(onFatal).toHaveBeenCalledWith('no such mirror');
  });
});
