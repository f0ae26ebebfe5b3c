"""The Socket.IO origin policy is the /ws/chat/ one, decided in-process."""

from messaging_app.socketio import is_socketio_path, origin_allowed


def test_no_origin_is_allowed_since_only_browsers_send_one(settings):
    settings.ALLOWED_ORIGINS = []
    assert origin_allowed(None) is True


def test_an_empty_list_refuses_every_browser_origin(settings):
    # python-socketio would read `cors_allowed_origins=[]` as "check nothing".
    settings.ALLOWED_ORIGINS = []
    assert origin_allowed("https://app.bank.example") is False


def test_listed_origins_and_patterns_match_like_channels(settings):
    settings.ALLOWED_ORIGINS = ["https://app.bank.example", "https://.staff.bank.example"]
    assert origin_allowed("https://app.bank.example")
    assert origin_allowed("https://eu.staff.bank.example")
    assert not origin_allowed("http://app.bank.example")  # scheme matters
    assert not origin_allowed("https://app.bank.example.evil.example")
    assert not origin_allowed("null")


def test_only_the_socketio_prefix_is_routed_to_it():
    assert is_socketio_path("/socket.io/") and is_socketio_path("/socket.io")
    assert not is_socketio_path("/socket.iox") and not is_socketio_path("/ws/chat/")
