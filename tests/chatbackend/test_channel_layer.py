"""The Redis channel layer as configured (settings.CHANNEL_LAYERS), on the real Redis (the suite
runs with REDIS_URL set; tests/chatbackend/test_settings.py checks the backend)."""

import asyncio
import logging
import uuid

import pytest
from channels.layers import channel_layers
from channels_redis.core import RedisChannelLayer


async def test_an_idle_wait_is_not_taken_for_an_outage(caplog):
    # channels-redis waits in 5 s BZPOPMINs; a socket read timeout at or under that failed
    # every idle wait: logged as Redis lost, and fan-out paused for a growing back-off.
    layer = channel_layers.make_backend("default")
    channel = await layer.new_channel()
    group = f"idle-{uuid.uuid4().hex}"
    await layer.group_add(group, channel)
    caplog.set_level(logging.WARNING, logger="chatbackend.channel_layer")
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(layer.brpop_timeout * 2 + 1)  # two idle waits
    await layer.group_send(group, {"type": "chat.messages", "n": 1})
    message = await asyncio.wait_for(waiting, timeout=2)
    assert message["n"] == 1
    assert "lost Redis" not in caplog.text
    await layer.group_discard(group, channel)


async def test_a_join_that_failed_is_not_rejoined_after_an_outage(monkeypatch):
    layer = channel_layers.make_backend("default")

    async def redis_down(self, group, channel):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(RedisChannelLayer, "group_add", redis_down)
    with pytest.raises(ConnectionError):
        await layer.group_add("some-session", "some-channel")
    # The consumer does not count the socket as joined, so nothing would ever discard it.
    assert "some-session" not in layer._memberships
