"""The chat page at `/`: a plain Django template whose script (static/chat/chat.js) runs the
seed's Session Resume Flow against the public API and WebSocket, like any other client.

The page holds no data and no token: it is the same for everyone, so it needs no login.
"""

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe


@require_safe
def chat_page(request):
    return render(request, "chat/index.html")


urlpatterns = [path("", chat_page, name="chat-page")]
