"""The admin's login form, telling the login counters (chatbackend.ratelimits) of a failure.

Its own module: chatbackend.admin_site is imported while the apps load (it holds the admin's
AppConfig), before the auth forms, which need the user model, can be.
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError


class CountingAdminAuthenticationForm(AdminAuthenticationForm):
    """Marks the request's login attempt (ChatAdminSite.login opens it) failed when sign-in is
    refused: wrong password, unknown or inactive user, not staff. A form without a password
    never reaches authenticate() and, like a success, is not a failure."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            attempt = getattr(self.request, "login_attempt", None)
            if attempt is not None:
                attempt.failed()
            raise
