"""channels-redis, made to ride out a Redis outage without killing sockets."""

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 5.0


class ResilientRedisChannelLayer(RedisChannelLayer):
    """A consumer waits on `receive` for fan-out events; with plain channels-redis a Redis
    outage raises there and takes the WebSocket down with it. Here the wait retries with
    backoff instead, so sockets stay open and keep sending (stored, answered) while fan-out
    is degraded; clients catch up with `chat:history` + `afterSeq` afterwards."""

    async def receive(self, channel):
        delay = 0.25
        while True:
            try:
                return await super().receive(channel)
            except (RedisError, ConnectionError, OSError) as exc:
                logger.warning(
                    "channel layer receive failed (%s); retrying in %.2fs",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
