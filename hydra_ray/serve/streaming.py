"""Server-sent events of the OpenAI-compatible route (``stream: true``), from any backend's stream.

The generation deployment streams :class:`~hydra_ray.serve.backends.Delta` values (a piece of one
choice's text; ``finish_reason`` on its last piece) and then the request's ``GenResult``. This module
turns them into OpenAI's ``chat.completion.chunk`` events, each one ``data: {json}`` line and a blank
line, and ends with ``data: [DONE]``::

    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "def"}, ...}]}
    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": " f"}, ...}]}
    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    data: {"object": "chat.completion.chunk", "choices": [], "usage": {...}}     # stream_options.include_usage
    data: [DONE]

A failure after the first event cannot change the HTTP status any more: it is sent as a
``data: {"error": {...}}`` event (OpenAI's shape), then ``[DONE]``. Pure: no Ray, no FastAPI.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator, Iterable

from hydra_ray.serve.backends import Delta, GenResult

DONE = "data: [DONE]\n\n"


def sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def read_events(lines: Iterable[str]) -> list[dict[str, Any] | str]:
    """A client's reading of an SSE stream: each ``data:`` payload, parsed, and ``"[DONE]"`` as is."""
    events: list[dict[str, Any] | str] = []
    for line in lines:
        if line.startswith("data: "):
            payload = line[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def chunk(request_id: str, created: int, model: str, choices: list[dict[str, Any]],
          usage: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return body


def usage_of(result: GenResult) -> dict[str, int]:
    completion = sum(g.completion_tokens for g in result.generations)
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": completion,
            "total_tokens": result.prompt_tokens + completion}


def error_event(message: str, type_: str = "generation_failed", code: int = 502) -> str:
    return sse({"error": {"message": message, "type": type_, "param": None, "code": code}})


async def chat_events(items: AsyncIterator[Delta | GenResult], request_id: str, created: int, model: str,
                      include_usage: bool = False, first: Delta | GenResult | None = None) -> AsyncIterator[str]:
    """SSE lines for one chat request; ``first`` is an item already taken from ``items``."""
    started: set[int] = set()

    def event(item: Delta) -> str | None:
        delta: dict[str, str] = {}
        if item.index not in started:
            started.add(item.index)
            delta["role"] = "assistant"
        if item.text:
            delta["content"] = item.text
        if not delta and item.finish_reason is None:
            return None
        return sse(chunk(request_id, created, model, [{"index": item.index, "delta": delta, "logprobs": None,
                                                      "finish_reason": item.finish_reason}]))

    async def all_items():
        if first is not None:
            yield first
        async for item in items:
            yield item

    try:
        async for item in all_items():
            if isinstance(item, Delta):
                line = event(item)
                if line:
                    yield line
            elif isinstance(item, GenResult):
                if item.error:
                    yield error_event(f"the generation backend could not answer: {item.error}")
                elif include_usage:
                    yield sse(chunk(request_id, created, model, [], usage_of(item)))
    except Exception as e:  # noqa: BLE001 - the status line is gone: report in the stream
        yield error_event(f"generation failed while streaming: {type(e).__name__}: {str(e)[:500]}", "unavailable",
                          503)
    yield DONE
