from django.urls import path

from agents_app.api import views

urlpatterns = [path("agents", views.AgentListView.as_view(), name="agents")]
