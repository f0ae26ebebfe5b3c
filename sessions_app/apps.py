from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Chat sessions"

    def ready(self):
        # Sessions are keyed by username: they must follow account deletions and renames.
        from sessions_app import signals

        signals.connect()
