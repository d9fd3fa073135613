"""The stream pages, under a team (`t/<team_slug>/`): the team's overview and each server's streams."""

from django.urls import path

from streams.views import detail, editing, listing, overview

stream = "servers/<uuid:server_id>/streams/<str:stream_id>/"

urlpatterns = [
    path("", overview.team_overview, name="team_home"),
    path("servers/<uuid:server_id>/streams/", listing.stream_list_view, name="stream_list"),
    path("servers/<uuid:server_id>/streams/new/", editing.stream_create_view, name="stream_create"),
    path("servers/<uuid:server_id>/streams/new/check/", editing.stream_create_check, name="stream_create_check"),
    path(stream, detail.stream_detail, name="stream_detail"),
    path(stream + "edit/", editing.stream_edit_view, name="stream_edit"),
    path(stream + "archive/", detail.stream_archive_view, name="stream_archive"),
    path(stream + "restore/", detail.stream_restore_view, name="stream_restore"),
]
