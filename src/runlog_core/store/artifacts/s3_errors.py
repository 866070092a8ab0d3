"""What the S3 artifact store says when S3 fails: boto3/botocore errors as :class:`S3ArtifactError`.

Every failure of S3 (refused, missing bucket, bad credentials, unreachable) becomes an
:class:`S3ArtifactError` (an :class:`ArtifactWriteError`, so a :class:`RunlogError` and an
:class:`OSError`) that names the artifact, its ``s3://bucket/key`` and the fix, never a botocore
exception and never a secret. Its ``code`` is ``"credentials"``, ``"bucket"``, ``"unreachable"``,
``"botocore"``, ``"other"`` or S3's own error code.

botocore is imported only inside the functions: this module is imported with the S3 store only.
"""

from __future__ import annotations

from runlog_core.exceptions import S3ArtifactError

__all__ = ["MISSING_KEY_CODES", "is_missing_key", "translate"]

_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                         "AccessDenied", "AllAccessDisabled", "InvalidClientTokenId", "UnrecognizedClientException",
                         "403", "Forbidden", "AuthorizationHeaderMalformed"})
MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
"""S3's codes for "no object under that key" (a HEAD answers a bare 404)."""


def is_missing_key(err: BaseException) -> bool:
    """Whether ``err`` (an :class:`S3ArtifactError` or a botocore ``ClientError``) means "no such object"."""
    from botocore.exceptions import ClientError

    cause = err.__cause__ if isinstance(err, S3ArtifactError) else err
    return isinstance(cause, ClientError) and str(cause.response.get("Error", {}).get("Code")) in MISSING_KEY_CODES


def translate(err: BaseException, *, bucket: str, prefix: str, where: str, action: str, name: str,
              key: str) -> S3ArtifactError:
    """The :class:`S3ArtifactError` for a boto3/botocore failure: what happened and how to fix it.

    Args:
        err: what boto3 raised (an :class:`S3ArtifactError` is returned as it is).
        bucket: the store's bucket.
        prefix: the store's prefix (named in the fix for refused credentials).
        where: the endpoint, in words (``AWS_ENDPOINT_URL`` or "the AWS endpoint").
        action: what was being done, such as ``"writing"``, for the message.
        name: the artifact.
        key: its object key.
    """
    from botocore import exceptions as bce

    uri = f"s3://{bucket}/{key}"
    if isinstance(err, S3ArtifactError):
        return err
    if isinstance(err, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return S3ArtifactError(name, uri, action, "no AWS credentials were found",
                               "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)", "credentials")
    if isinstance(err, (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError,
                        bce.ConnectionClosedError, bce.ConnectionError, bce.HTTPClientError)):
        return S3ArtifactError(name, uri, action, f"cannot reach the S3 endpoint {where} ({type(err).__name__})",
                               "check AWS_ENDPOINT_URL and that the server is up and reachable", "unreachable")
    if isinstance(err, bce.ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = str(error.get("Message") or code or status)
        if code == "NoSuchBucket":
            return S3ArtifactError(name, uri, action, f"the bucket {bucket!r} does not exist at {where}",
                                   f"create it (aws s3 mb s3://{bucket}) or fix RUNLOG_ARTIFACTS", "bucket")
        if code in _AUTH_CODES or status == 403:
            return S3ArtifactError(name, uri, action, f"S3 refused the credentials ({code or status}: {text})",
                                   "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or "
                                   f"AWS_PROFILE), and that they may read, write and list s3://{bucket}/{prefix}",
                                   "credentials")
        if status == 404:  # a HEAD-less 404 without S3's code: the bucket, or not an S3 endpoint at all
            return S3ArtifactError(name, uri, action, f"{where} answered 404 ({text})",
                                   f"check that the bucket {bucket!r} exists there and AWS_ENDPOINT_URL", "bucket")
        return S3ArtifactError(name, uri, action, f"S3 answered {code or status}: {text}",
                               "check the bucket's settings and RUNLOG_ARTIFACTS", code or str(status))
    if isinstance(err, bce.BotoCoreError):
        return S3ArtifactError(name, uri, action, f"{type(err).__name__}: {err}",
                               "check AWS_ENDPOINT_URL, the credentials and RUNLOG_ARTIFACTS", "botocore")
    return S3ArtifactError(name, uri, action, f"{type(err).__name__}: {err}",
                           "check AWS_ENDPOINT_URL, the credentials and RUNLOG_ARTIFACTS", "other")
