from django.urls import path

from sessions_app.api import views

urlpatterns = [
    path("sessions", views.SessionCollectionView.as_view(), name="session-list"),
    path("sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
    path(
        "sessions/<str:session_id>/resume", views.SessionResumeView.as_view(), name="session-resume"
    ),
    path(
        "sessions/<str:session_id>/resolve",
        views.SessionResolveView.as_view(),
        name="session-resolve",
    ),
    path(
        "sessions/<str:session_id>/history",
        views.SessionHistoryView.as_view(),
        name="session-history",
    ),
    path(
        "sessions/<str:session_id>/messages",
        views.SessionMessagesView.as_view(),
        name="session-messages",
    ),
    path("users/<str:user_id>/sessions", views.UserSessionsView.as_view(), name="user-sessions"),
]
