"""The coflex exception tree.

Every error that coflex raises on purpose derives from :class:`CoflexError` and
carries a stable ``code``. Entry points turn an error into an exit status (CLI)
or an HTTP status (API) in one place, using ``exit_status`` and ``http_status``.

::

    CoflexError
    ├── InputError                 bad input from a user or a file (exit 2, HTTP 422)
    │   ├── WeatherFileError       missing, malformed or wrong-resolution weather file
    │   ├── HouseholdLoadError     unreadable household load data
    │   ├── RequestError           invalid flexibility request (times, target, class)
    │   ├── TimezoneError          unknown IANA timezone name
    │   ├── NotFoundError          no record with the given id or reference (HTTP 404)
    │   ├── QuotationError         a quotation whose total is not the sum of its lines
    │   └── KeyConfigError         missing, unreadable or misplaced signing or data key
    ├── RuleViolation              a Code of Conduct rule forbids the action (HTTP 409)
    │   ├── TransitionError        forbidden contract state change
    │   ├── ConsentError           acceptance without complete consent evidence
    │   ├── ClaimError             material with an unsupported or expired claim
    │   ├── SalesRuleError         untrained representative, do-not-contact, hours
    │   ├── ReadabilityError       Key Facts over the reading-grade or length limit
    │   └── RegistrationError      no valid registration in the jurisdiction
    ├── StoreError                 the database is unreachable or a write failed
    ├── DeviceGatewayError         a device broker or charging station link failed
    └── PlanningError              no feasible plan could be built
"""

from __future__ import annotations


class CoflexError(Exception):
    """Root of every error that coflex raises on purpose."""

    code = "coflex_error"
    exit_status = 1
    http_status = 500

    def __init__(self, message: str, *, value: object = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.value = value
        self.field = field


class InputError(CoflexError):
    """Input that coflex cannot use; the message names the value and the fix."""

    code = "invalid_input"
    exit_status = 2
    http_status = 422


class WeatherFileError(InputError):
    code = "invalid_weather_file"


class HouseholdLoadError(InputError):
    code = "invalid_household_load"


class RequestError(InputError):
    code = "invalid_flexibility_request"


class TimezoneError(InputError):
    code = "unknown_timezone"


class NotFoundError(InputError):
    """A record named by id or reference does not exist."""

    code = "not_found"
    http_status = 404


class KeyConfigError(InputError):
    """A signing or encryption key is missing, unreadable or kept in the wrong place."""

    code = "key_not_configured"


class RuleViolation(CoflexError):
    """An action that a Code of Conduct rule forbids."""

    code = "rule_violation"
    exit_status = 2
    http_status = 409


class TransitionError(RuleViolation):
    code = "forbidden_transition"


class ConsentError(RuleViolation):
    code = "incomplete_consent"


class ClaimError(RuleViolation):
    code = "unsupported_claim"


class SalesRuleError(RuleViolation):
    code = "sales_rule_violation"


class ReadabilityError(RuleViolation):
    code = "readability_limit_exceeded"


class QuotationError(InputError):
    code = "invalid_quotation"


class StoreError(CoflexError):
    """The database could not be reached or a write failed."""

    code = "store_unavailable"
    exit_status = 2
    http_status = 503


class PlanningError(CoflexError):
    code = "planning_failed"
    exit_status = 1
    http_status = 500


class RegistrationError(RuleViolation):
    code = "no_valid_registration"


class DeviceGatewayError(CoflexError):
    """A device broker or charging station endpoint could not be reached or set up."""

    code = "device_gateway_unavailable"
    exit_status = 2
    http_status = 503
