"""seed_demo: the demo users the README promises, and a reset that works on used demo data."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from agents_app.models import Account, Transfer
from agents_app.services import transfer_create
from sessions_app.management.support import SUPPORT_GROUP

pytestmark = pytest.mark.django_db


def test_the_demo_staff_user_is_on_the_support_desk(client):
    call_command("seed_demo", "--days", "3", stdout=None)
    support = get_user_model().objects.get(username="support")
    assert support.groups.filter(name=SUPPORT_GROUP).exists()
    client.login(username="support", password="support123")
    assert client.get("/admin/sessions_app/chatsession/").status_code == 200


def test_reset_after_the_demo_user_made_a_transfer(capsys):
    call_command("seed_demo", "--days", "3")
    checking = Account.objects.get(user_id="test", account_type="checking")
    transfer_create(
        actor="test:test", user_id="test", from_account_id=checking.pk, amount="5", payee="Bob"
    )
    call_command("seed_demo", "--days", "3", "--reset")
    assert not Transfer.objects.exists()
    checking = Account.objects.get(user_id="test", account_type="checking")
    assert checking.balance == Decimal("5432.10")
