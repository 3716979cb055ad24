"""The in-process transport of the embedded default: closing it releases its event loop."""

from __future__ import annotations

import feedkit
from feedkit.transport import InProcessTransport


def test_close_stops_and_closes_the_event_loop() -> None:
    client = feedkit.connect(":memory:")
    transport = client._transport
    assert isinstance(transport, InProcessTransport)
    assert client.add_activity(type="post", feeds=["user:a"], user_id="a", text="hi").text == "hi"
    client.close()
    assert not transport._thread.is_alive()
    assert transport._loop.is_closed()  # its selector and self-pipe are released now, not at GC
    transport.close()  # closing twice is harmless
