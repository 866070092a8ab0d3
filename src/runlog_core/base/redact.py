"""Secrets out of what a submitted run records: its environment, its command line, its git remote.

Three rules, all replacing the secret by ``***`` and keeping the rest, so the record stays
useful (docs/submit.md, "Secrets", says the same for users; issue 9):

- **Names.** A variable, option (``--db-password``) or ``key=value`` key whose name contains
  one of :data:`SECRET_MARKERS` (any case), or matches a ``RUNLOG_REDACT`` pattern, is a secret.
  A few environment variables that are never secrets are exempt (:data:`NOT_SECRET`).
- **Values**, whatever their name: a password in a URL (``postgresql://u:***@host/db``), the
  value of a secret key in ``k=v`` / ``k: v`` / ``"k": "v"`` text (``AccountKey=***``,
  ``Password=***``), ``Bearer ***``, private-key blocks and well-known token shapes (GitHub,
  GitLab, Slack, OpenAI, Stripe, AWS, Google, Hugging Face, npm, PyPI tokens, JWTs).
- **Arguments.** The value after an option whose name is a secret (``--password x``,
  ``--api-key=x``), and every argument through the value rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from runlog_core.base import config as _config

__all__ = ["NOT_SECRET", "REDACTED", "SECRET_MARKERS", "SECRET_WORDS", "is_secret_name", "redact_arguments",
           "redact_environment", "redact_url", "redact_value"]

REDACTED = "***"

# better too many than a leak: PASS also hides PASSES, KEY also hides KEYBOARD_LAYOUT
SECRET_MARKERS: tuple[str, ...] = (
    "KEY", "SECRET", "PASS", "PWD", "AUTH", "CREDENTIAL", "COOKIE", "DSN", "WEBHOOK", "JWT",
    "CONNECTION_STRING", "CONNECTIONSTRING", "PRIVATE", "TOKEN", "SIGNATURE",
)

# whole words of a name (split at _ - .) that are secrets too: DB_PW, a SAS URL's sig=
SECRET_WORDS = frozenset({"PW", "SIG", "PSK"})

# environment variables that contain a marker but are never secrets (their values still go
# through the value rules): the shell's working folders, Hugging Face's switch, git's identity
NOT_SECRET = frozenset({"PWD", "OLDPWD", "TOKENIZERS_PARALLELISM",
                        "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE"})

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]*")
_KEY = r"[A-Za-z_][\w.\-]*"
# k=v (connection strings, query strings, --k=v inside a value) and "k: v" (headers, YAML)
_PAIR_KEY = re.compile(rf"(?<![\w.])(?P<key>{_KEY})(?P<sep>\s*=\s*|\s*:\s+)")
_JSON_PAIR = re.compile(r"(?P<key>\"[^\"\\]{1,200}\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"")
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>Bearer\s+|Basic\s+(?=[A-Za-z0-9+/]{8}))[A-Za-z0-9\-._~+/]+=*")
_TOKENS = re.compile("|".join((
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.*?-----END[A-Z ]*PRIVATE KEY-----|.*)",
    r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}",             # GitHub
    r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{20,}",
    r"(?<![A-Za-z0-9])glpat-[A-Za-z0-9_\-]{20,}",              # GitLab
    r"(?<![A-Za-z0-9])xox[abposer]-[A-Za-z0-9\-]{10,}",        # Slack
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}",                 # OpenAI, Anthropic
    r"(?<![A-Za-z0-9])[rs]k_(?:live|test)_[A-Za-z0-9]{10,}",   # Stripe
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",  # AWS access key ids
    r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}",                 # Google
    r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}",                    # Hugging Face
    r"(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}",
    r"(?<![A-Za-z0-9])pypi-[A-Za-z0-9_\-]{40,}",
    r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",  # JWT
    r"(?<=hooks\.slack\.com/services/)[^\s\"'<>]+",           # webhook URLs: the path is the secret
    r"(?<=/api/webhooks/)[^\s\"'<>]+",                         # Discord
)), re.DOTALL)
_OPTION = re.compile(r"(?P<dashes>--?)(?P<name>[A-Za-z][\w.\-]*)(?:=(?P<value>.*))?", re.DOTALL)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    """``RUNLOG_REDACT``'s rule: a glob matches the whole name, anything else is a substring; any case."""
    upper = name.upper()
    for pattern in patterns:
        pattern = pattern.upper()
        is_glob = any(char in pattern for char in "*?[")
        if fnmatchcase(upper, pattern) if is_glob else pattern in upper:
            return True
    return False


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """True when ``name`` (a variable, an option without its dashes, a key) names a secret.

    ``-`` and ``.`` count as ``_`` (``--api-key`` is ``API_KEY``); ``extra`` are more patterns
    (``RUNLOG_REDACT``'s).
    """
    normal = name.upper().replace("-", "_").replace(".", "_")
    return (any(marker in normal for marker in SECRET_MARKERS) or not SECRET_WORDS.isdisjoint(normal.split("_"))
            or _matches(normal, extra) or _matches(name, extra))


def redact_url(url: str, *, hide_user: bool = False) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``.

    ``hide_user``: hide a user without password too, for http(s) (a git remote's
    ``https://TOKEN@github.com/...``).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        # an unescaped / ? or # in the password: u:p/w@host still hides p/w (never a port: host:8080/x@y)
        at = rest.find("@", end)
        user, colon, password = rest[:max(at, 0)].partition(":")
        if at < 0 or not colon or "/" in user or password.split("/", 1)[0].isdigit():
            return url
    userinfo, host = rest[:at], rest[at + 1:]
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{scheme}://{user}:{REDACTED}@{host}"
    if hide_user and userinfo and scheme.lower() in ("http", "https"):
        return f"{scheme}://{REDACTED}@{host}"
    return url


def _redact_pairs(text: str, extra: tuple[str, ...]) -> str:
    """The value of each secret ``key=value`` / ``key: value`` in ``text`` replaced by ``***``.

    A value is quoted, or runs to the next ``;`` ``&`` quote or line end, or to the next
    ``key=`` after a space: ``pw=x b=2`` keeps ``b=2``, ``Password=my pass;`` hides ``my pass``,
    ``AccountKey=ab+/c==`` hides all of the base64.
    """
    keys = list(_PAIR_KEY.finditer(text))
    parts: list[str] = []
    done = 0
    for index, match in enumerate(keys):
        start = match.end()
        if match.start() < done or not is_secret_name(match["key"], extra):
            continue
        if start < len(text) and text[start] in "\"'":
            close = text.find(text[start], start + 1)
            start, end = start + 1, (close if close >= 0 else len(text))
        else:
            end = next((i for i in range(start, len(text)) if text[i] in ";&\r\n\"'"), len(text))
            following = (k.start() for k in keys[index + 1:] if start < k.start() < end and text[k.start() - 1].isspace())
            end = next(following, end)
            while end > start and text[end - 1].isspace():
                end -= 1
        if start < end and text[start:end] != REDACTED:
            parts += [text[done:start], REDACTED]
            done = end
    return "".join(parts) + text[done:]


def redact_value(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every credential the value rules find replaced by ``***``."""
    extra = tuple(extra)
    if not text:
        return text

    def json_pair(match: re.Match[str]) -> str:
        key = match["key"].rstrip().rstrip(":").rstrip().strip('"')
        return f'{match["key"]}"{REDACTED}"' if is_secret_name(key, extra) else match[0]

    text = _TOKENS.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(lambda match: match["scheme"] + REDACTED, text)
    text = _URL.sub(lambda match: redact_url(match[0]), text)
    text = _JSON_PAIR.sub(json_pair, text)
    return _redact_pairs(text, extra)


def redact_environment(env: Mapping[str, str], extra: Iterable[str] | None = None) -> dict[str, str]:
    """``env`` sorted by name, secrets replaced by ``***`` (the name and value rules above).

    ``extra``: more name patterns; ``None`` reads ``RUNLOG_REDACT``.

    Raises:
        ConfigError: ``RUNLOG_REDACT`` holds an empty pattern.
    """
    patterns = _config.redact_patterns() if extra is None else tuple(extra)
    redacted = {}
    for name, value in sorted(env.items()):
        secret = _matches(name, patterns) or (name.upper() not in NOT_SECRET and is_secret_name(name))
        redacted[name] = REDACTED if secret else redact_value(value, patterns)
    return redacted


def redact_arguments(arguments: Iterable[str], extra: Iterable[str] | None = None) -> list[str]:
    """A command line with the value of each secret option (``--token x``, ``--token=x``) and every
    credential the value rules find replaced by ``***``.

    After a secret option the next argument is its value unless it is another ``--option``.
    ``extra``: more name patterns; ``None`` reads ``RUNLOG_REDACT``.

    Raises:
        ConfigError: ``RUNLOG_REDACT`` holds an empty pattern.
    """
    patterns = _config.redact_patterns() if extra is None else tuple(extra)
    redacted: list[str] = []
    hide_next = False
    for argument in arguments:
        if hide_next and not argument.startswith("--"):
            redacted.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        option = _OPTION.fullmatch(argument)
        if option is not None and is_secret_name(option["name"], patterns):
            if option["value"] is None:
                hide_next = True
                redacted.append(argument)
            else:
                redacted.append(f"{option['dashes']}{option['name']}={REDACTED}")
            continue
        redacted.append(redact_value(argument, patterns))
    return redacted
