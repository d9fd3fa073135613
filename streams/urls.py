"""The stream pages, under a team (`t/<team_slug>/`): the team's overview and each server's streams."""

from django.urls import path, register_converter

from streams.views import activity, detail, editing, listing, lookup, overview, suppressions


class StreamIdConverter:
    """A stream ID in an address: a letter, then up to 99 letters, digits, '-' or '_'; never '.', '..' or '/'.

    Postmark's rule is narrower (lowercase, at most 30: `streams.rules.ID_FORMAT`); the address takes a little
    more, so a stream Postmark made before its rule still has a page. Anything else is an ordinary 404.
    """

    regex = "[A-Za-z][A-Za-z0-9_-]{0,99}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StreamIdConverter, "stream_id")

stream = "servers/<uuid:server_id>/streams/<stream_id:stream_id>/"

urlpatterns = [
    path("", overview.team_overview, name="team_home"),
    path("servers/<uuid:server_id>/streams/", listing.stream_list_view, name="stream_list"),
    path("servers/<uuid:server_id>/stream-activity/", activity.server_sparklines_view, name="server_sparklines"),
    path("servers/<uuid:server_id>/streams/new/", editing.stream_create_view, name="stream_create"),
    path("servers/<uuid:server_id>/streams/new/check/", editing.stream_create_check, name="stream_create_check"),
    path(stream, detail.stream_detail, name="stream_detail"),
    path(stream + "activity/", activity.stream_activity_view, name="stream_activity"),
    path(stream + "edit/", editing.stream_edit_view, name="stream_edit"),
    path(stream + "archive/", detail.stream_archive_view, name="stream_archive"),
    path(stream + "restore/", detail.stream_restore_view, name="stream_restore"),
    # A stream's suppressions (issue 17)
    path(stream + "suppressions/", suppressions.suppression_list_view, name="suppression_list"),
    path(stream + "suppressions/search/", suppressions.suppression_search_view, name="suppression_search"),
    path(stream + "suppressions/export.csv", suppressions.suppression_export_view, name="suppression_export"),
    path(stream + "suppressions/add/", suppressions.suppression_add_view, name="suppression_add"),
    path(stream + "suppressions/add/check/", suppressions.suppression_add_check, name="suppression_add_check"),
    path(stream + "suppressions/remove/", suppressions.suppression_remove_view, name="suppression_remove"),
    path(stream + "suppressions/remove/confirm/", suppressions.suppression_remove_confirm,
         name="suppression_remove_confirm"),
    # "Why didn't this person get our e-mail?" (issue 17)
    path("lookup/", lookup.recipient_lookup_view, name="recipient_lookup"),
    path("lookup/clear/", lookup.recipient_lookup_clear, name="recipient_lookup_clear"),
    path("lookup/remove/", lookup.recipient_lookup_remove, name="recipient_lookup_remove"),
    path("lookup/reactivate/", lookup.recipient_lookup_reactivate, name="recipient_lookup_reactivate"),
]
