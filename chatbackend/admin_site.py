"""Django admin with the API's login limits: a staff account can act on every session, so its
password must not be easier to guess through the admin's login form than through /auth/login.
Both count the same failures in the same counters (chatbackend.ratelimits)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import JsonResponse

from chatbackend.net import client_ip
from chatbackend.ratelimits import RateLimited, login_attempt


class ChatAdminSite(admin.AdminSite):
    @property
    def login_form(self):
        # Imported on use: this module loads with the apps, before auth forms can be imported.
        from chatbackend.admin_forms import CountingAdminAuthenticationForm

        return CountingAdminAuthenticationForm

    def login(self, request, extra_context=None):
        if request.method != "POST":
            return super().login(request, extra_context)
        # The raw posted username, as the API's is: ratelimits folds every spelling of it.
        username = str(request.POST.get("username", ""))
        try:
            with login_attempt(username=username, ip=client_ip(request)) as attempt:
                request.login_attempt = attempt  # the form marks it failed
                return super().login(request, extra_context)
        except RateLimited as exc:
            response = JsonResponse(exc.as_body(), status=exc.status)
            response["Retry-After"] = str(exc.retry_after)
            return response


class ChatAdminConfig(AdminConfig):
    default_site = "chatbackend.admin_site.ChatAdminSite"
