"""The production settings, with bench-only switches (unset, nothing changes):

- BENCH_CHANNEL_LAYER picks the channel layer class, so the plain channels-redis classes can be
  measured against each other (`core` = RedisChannelLayer, `pubsub` = RedisPubSubChannelLayer);
- BENCH_MIDDLEWARE=sync-first moves the one sync-only middleware (BodySizeLimitMiddleware) from
  the end of MIDDLEWARE to second place, where it was: every middleware below it then runs in
  async mode, hopping between the event loop and a thread around each one.
"""

import os

from chatbackend.settings import *  # noqa: F403
from chatbackend.settings import CHANNEL_LAYERS, MIDDLEWARE, REDIS_URL

_LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
_choice = os.environ.get("BENCH_CHANNEL_LAYER", "")
if _choice and REDIS_URL:
    config = dict(CHANNEL_LAYERS["default"]["CONFIG"])
    if _choice == "pubsub":
        # The pub/sub layer keeps no queues: no capacity or expiry.
        config = {"hosts": config["hosts"], "prefix": config["prefix"]}
    CHANNEL_LAYERS = {"default": {"BACKEND": _LAYERS[_choice], "CONFIG": config}}

if os.environ.get("BENCH_MIDDLEWARE") == "sync-first":
    _sync_only = "chatbackend.middleware.BodySizeLimitMiddleware"
    MIDDLEWARE = [m for m in MIDDLEWARE if m != _sync_only]
    MIDDLEWARE.insert(1, _sync_only)
