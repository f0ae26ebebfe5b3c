from django.urls import path

from messaging_app.api import views

urlpatterns = [
    path("chat/message", views.ChatMessageView.as_view(), name="chat-message"),
    path("chat/history", views.ChatHistoryView.as_view(), name="chat-history"),
]
