"""A lean OpenAI-compatible stub backend for the serving benchmarks: raw asyncio HTTP/1.1 with keep-alive,
so that the backend's own CPU stays small beside what is measured.

    python benchmarks/stub_backend.py [--delay 0.0]    # prints its api_base, serves until stdin closes

`POST /v1/chat/completions` answers every model with a fixed short reply and true usage (prompt tokens =
characters of the messages / 4, completion tokens = words of the reply), after `--delay` seconds. A
request whose system prompt teaches Router-R1's protocol (it names `<search>`) is answered like a router
that searches once, then answers once it has read an `<information>` block. `stream: true` gets SSE
chunks (role, two content pieces, finish; usage with `stream_options.include_usage`), then `[DONE]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

REPLY = "It was built in 1889."
SEARCH = "<think>I need one fact.</think>\n<search>Stub: when was the tower built?</search>"
ANSWER = "<think>The evidence says 1889.</think>\n<answer>It was built in 1889.</answer>"


def reply_for(body: dict) -> str:
    messages = body.get("messages") or []
    system = " ".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    if "<search>" not in system:
        return REPLY
    seen = any("<information>" in str(m.get("content") or "") for m in messages if m.get("role") != "system")
    return ANSWER if seen else SEARCH


def usage(body: dict, text: str) -> dict:
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages") or []) // 4 + 1
    completion = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(body: dict) -> bytes:
    text = reply_for(body)
    return json.dumps({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": usage(body, text),
    }).encode()


def chunks(body: dict) -> list[bytes]:
    text = reply_for(body)
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model")}
    half = len(text) // 2
    deltas = [({"role": "assistant", "content": ""}, None), ({"content": text[:half]}, None), ({"content": text[half:]}, None),
              ({}, "stop")]
    out = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": f}]} for d, f in deltas]
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({**base, "choices": [], "usage": usage(body, text)})
    return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in out] + [b"data: [DONE]\n\n"]


class Handler(asyncio.Protocol):
    delay = 0.0

    def connection_made(self, transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            asyncio.ensure_future(self.respond(head.split(b" ", 2)[1], body))

    async def respond(self, path: bytes, raw: bytes) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if not path.endswith(b"/chat/completions"):
            self.send(b"200 OK", b'{"status":"ok"}')
            return
        body = json.loads(raw or b"{}")
        if not body.get("stream"):
            self.send(b"200 OK", completion(body))
            return
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in chunks(body):
            self.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.transport.write(b"0\r\n\r\n")

    def send(self, status: bytes, payload: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(payload)).encode() + b"\r\n\r\n" + payload)


async def serve(delay: float) -> None:
    Handler.delay = delay
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Handler, "127.0.0.1", 0, backlog=4096)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes the pipe (or dies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.delay))
    else:
        uvloop.run(serve(args.delay))


if __name__ == "__main__":
    main()
