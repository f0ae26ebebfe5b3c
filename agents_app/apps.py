from django.apps import AppConfig


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Agents and banking data"

    def ready(self):
        # Bank data is keyed by username: it must follow account deletions and renames.
        from agents_app import signals

        signals.connect()
