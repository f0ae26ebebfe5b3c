import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError

pytestmark = pytest.mark.django_db


def test_it_recreates_the_group_and_strips_what_was_added_by_hand(run):
    Group.objects.filter(name="support").delete()
    Permission.objects.filter(codename="reply_chatsession").delete()
    run("support_group")
    group = Group.objects.get(name="support")
    group.permissions.add(Permission.objects.get(codename="delete_chatsession"))

    result = run("support_group")
    assert 'Group "support" has 6 permissions' in result.stdout
    codenames = set(
        Group.objects.get(name="support").permissions.values_list("codename", flat=True)
    )
    assert "reply_chatsession" in codenames and "delete_chatsession" not in codenames


def test_it_adds_staff_to_the_group(run, user):
    result = run("support_group", "--add", "alice")
    assert "Added alice to support" in result.stdout
    user.refresh_from_db()
    assert user.is_staff and user.groups.filter(name="support").exists()
    assert user.has_perm("sessions_app.resolve_chatsession")


def test_an_unknown_user_is_an_error(run):
    with pytest.raises(CommandError, match="No such user: nobody"):
        run("support_group", "--add", "nobody")


def test_a_typo_in_one_name_gives_nobody_access(run, user):
    with pytest.raises(CommandError, match="No such user: alicee; nobody was added"):
        run("support_group", "--add", "alice", "--add", "alicee")
    user.refresh_from_db()
    assert not user.is_staff and not user.groups.exists()
