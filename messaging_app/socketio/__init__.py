"""Socket.IO at /socket.io/ for the original service's frontends (`io(url, {auth: {token}})`).

Same services, JWT check, rate limits and session groups as the native WebSocket
(`messaging_app.consumers`): each Socket.IO connection gets a channel-layer channel of its own,
joins `chat.session.<id>` groups with it, and a reader task turns channel-layer events into
Socket.IO events for that one socket. A message stored through any transport, on any instance,
reaches it the way it reaches a /ws/chat/ socket. python-socketio's rooms and client managers
carry nothing here: one fan-out path serves both transports.

Two vocabularies are served (docs/socketio.md): the seed README's and the contract's
(`chat:message` -> `chat:ack`, `chat:response`) and the original code's (`sendMessage` ->
`messageReceived`, `newMessage`). A socket is told about a session in the vocabulary it joined
it with, so a frontend never receives every event twice under two names.

`server` holds the AsyncServer and each connection's lifecycle, `handlers` the client events,
`delivery` the channel-layer events out, `connection` a socket's state, `security` the token
checks (the origin policy is chatbackend.ws_security's, shared with /ws/chat/).
"""

from chatbackend.ws_security import origin_allowed
from messaging_app.socketio.server import is_socketio_path, socketio_app

__all__ = ["is_socketio_path", "origin_allowed", "socketio_app"]
