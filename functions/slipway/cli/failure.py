"""The one line a command prints when it fails for a reason the user can fix.

AWS's error codes are kept (they are what to search for), with a sentence on what to do
for the usual ones: credentials missing or expired, access denied, no Region.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from slipway.errors import AwsError, SlipwayError

EXPIRED = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId", "UnrecognizedClientException"}
)
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"})
HINTS = {
    "NoCredentialsError": "no AWS credentials found: set AWS_PROFILE (or --profile), or sign in (e.g. aws sso login)",
    "NoRegionError": "no AWS Region: pass --region or set AWS_REGION",
    "ProfileNotFound": "the AWS profile is not in your AWS configuration (see --profile, AWS_PROFILE)",
    "TokenRetrievalError": "your AWS SSO session has expired: run aws sso login and try again",
    "SSOTokenLoadError": "your AWS SSO session has expired: run aws sso login and try again",
}


def failure_line(error: SlipwayError | BotoCoreError | ClientError) -> str:
    """``slipway: ...`` in one line: what failed and, where the fix is known, what to do."""
    if isinstance(error, ClientError):
        from slipway.aws.clients import translated

        error = translated(error.operation_name, error)
    if isinstance(error, BotoCoreError):
        hint = HINTS.get(type(error).__name__)
        return f"slipway: {hint} ({error})" if hint else f"slipway: {error}"
    text = " ".join(str(error).split())  # AWS messages may span lines; the failure stays one
    if isinstance(error, AwsError) and error.code in HINTS:  # botocore's, kept by the adapters as the code
        return f"slipway: {HINTS[error.code]} ({text})"
    if isinstance(error, AwsError) and error.code in EXPIRED:
        return f"slipway: your AWS credentials are invalid or have expired; renew them and try again ({text})"
    if isinstance(error, AwsError) and error.code in DENIED:
        return f"slipway: access denied: your credentials may not {error.operation} here ({text})"
    return f"slipway: {text}"
