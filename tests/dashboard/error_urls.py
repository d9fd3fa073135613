"""The dashboard's URLs plus one page that fails, for the tests of the 500 answer."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from dashboard.access import not_team_scoped
from dashboard.urls import urlpatterns as dashboard_urlpatterns


@not_team_scoped
@login_not_required
def broken(request):
    raise RuntimeError("a fault on our side")


urlpatterns = [path("broken/", broken), *dashboard_urlpatterns]
