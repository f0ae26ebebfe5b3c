"""Changelist search that answers an id from an index before it reads any message text.

Django's search ORs every search field, so a user id or session id typed into the box was also
matched against every message's content (`LIKE '%…%'`, a scan of chat_messages, with a JOIN and
a DISTINCT on the sessions list). Support staff mostly paste ids: those are looked up alone.
"""

from uuid import UUID

from django.contrib import messages
from django.db.models import Q


class IdFirstSearch:
    """A ModelAdmin mixin. A search term that is a UUID matches `uuid_lookups` (and a user id
    spelled the same); one that is a user id with rows in this table matches `user_id` only;
    anything else, a quoted word included, is searched as Django would (`search_fields`)."""

    uuid_lookups: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and " " not in term:
            try:
                as_uuid = UUID(term)
            except ValueError:
                as_uuid = None
            if as_uuid is not None:
                any_id = Q(user_id=term)  # a username may be a UUID too
                for lookup in self.uuid_lookups:
                    any_id |= Q(**{lookup: as_uuid})
                return queryset.filter(any_id), False
            if queryset.model._default_manager.filter(user_id=term).exists():
                # Say so: the same word in message text is not searched.
                self.message_user(
                    request,
                    f'Showing user "{term}" only. To find the word in message text, search '
                    f'for it in quotes: "{term}"',
                    messages.INFO,
                )
                return queryset.filter(user_id=term), False
        return super().get_search_results(request, queryset, search_term)
