"""channels-redis, made to ride out a Redis outage without killing sockets."""

import asyncio
import logging
from collections import defaultdict

from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 5.0
REDIS_ERRORS = (RedisError, ConnectionError, OSError)


class ResilientRedisChannelLayer(RedisChannelLayer):
    """A consumer waits on `receive` for fan-out events; with plain channels-redis a Redis
    outage raises there and takes the WebSocket down with it. Here the wait retries with
    backoff instead, so sockets stay open and keep sending (stored, answered) while fan-out is
    degraded; clients catch up with `chat:history` + `afterSeq` afterwards.

    Group memberships live in Redis, so a restarted Redis has forgotten them: this process
    remembers its own and adds them back once Redis answers again.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._memberships: dict[str, set[str]] = defaultdict(set)
        self._rejoin_lock = asyncio.Lock()
        self._healthy = True

    async def group_add(self, group, channel):
        await super().group_add(group, channel)
        # Remembered only once Redis has it: a join that failed is not one the consumer will
        # discard, and a channel kept here would be re-added at every recovery, forever.
        self._memberships[group].add(channel)

    async def group_discard(self, group, channel):
        members = self._memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._memberships[group]
        await super().group_discard(group, channel)

    async def receive(self, channel):
        delay = 0.25
        while True:
            try:
                if not self._healthy:
                    await self._rejoin()
                return await super().receive(channel)
            except REDIS_ERRORS as exc:
                if self._healthy:
                    logger.warning("channel layer lost Redis (%s); retrying", type(exc).__name__)
                self._healthy = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _rejoin(self) -> None:
        async with self._rejoin_lock:
            if self._healthy:
                return  # another receiver already restored them
            for group, channels in list(self._memberships.items()):
                for channel in list(channels):
                    await RedisChannelLayer.group_add(self, group, channel)
            self._healthy = True
            restored = len(self._memberships)
            logger.warning("channel layer reconnected; %d group(s) restored", restored)
