"""django-axes with a limit of its own for each thing it counts.

Axes compares the larger of its counts (failures for one account, failures from one address) with one limit.
One limit for both is wrong for an office: everyone behind its one public address shares that address's count,
so five mistyped passwords among twenty colleagues would lock the whole office out. Here an account may fail
SIGN_IN_FAILURE_LIMIT times and an address SIGN_IN_ADDRESS_FAILURE_LIMIT times, each in the cool-off period.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum


class AccountAndAddressLimits(AxesDatabaseHandler):
    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The failures that count, in units of the account's limit, which axes compares them with: an address's
        failures are scaled so that reaching the address limit reaches the account limit. Notes on the request
        which limit a lockout comes from (`sign_in_limit_reached`: "account" or "address")."""
        counts = {
            parameter: attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
            for parameter, attempts in zip(settings.AXES_LOCKOUT_PARAMETERS,
                                           self.get_user_attempts(request, credentials), strict=True)
        }
        account_limit = get_failure_limit(request, credentials)
        by_account, by_address = counts.get("username", 0), counts.get("ip_address", 0)
        request.sign_in_limit_reached = "account" if by_account >= account_limit else "address"
        return max(by_account, by_address * account_limit // settings.SIGN_IN_ADDRESS_FAILURE_LIMIT)
