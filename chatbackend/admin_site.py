"""Django admin with the API's login limits: a staff account can act on every session, so its
password must not be easier to guess through the admin's login form than through /auth/login."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import JsonResponse

from chatbackend.net import client_ip
from chatbackend.ratelimits import RateLimited, enforce_login_rate


class ChatAdminSite(admin.AdminSite):
    def login(self, request, extra_context=None):
        if request.method == "POST":
            try:
                enforce_login_rate(
                    username=str(request.POST.get("username", "")), ip=client_ip(request)
                )
            except RateLimited as exc:
                response = JsonResponse(exc.as_body(), status=exc.status)
                response["Retry-After"] = str(exc.retry_after)
                return response
        return super().login(request, extra_context)


class ChatAdminConfig(AdminConfig):
    default_site = "chatbackend.admin_site.ChatAdminSite"
