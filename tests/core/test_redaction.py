"""Secrets stay out of what a submitted run records: environment, command line, git remote (issue 9)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _submit_helpers import write_script

from runlog_core import ConfigError, Experiment, ScriptRunConfig
from runlog_core.submit.api import redact_environment

GHP = "ghp_" + "R2d2C3poBb8Luke4Leia5Han6Solo7Yoda8x"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
ACCOUNT_KEY = "c2VjcmV0YWNjb3VudGtleTEyMw+/Zz=="
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----"

# name -> (value, the secret part that must not be recorded, what is recorded instead or None for "***")
SECRETS: dict[str, tuple[str, str, str | None]] = {
    # by name
    "API_KEY": ("abc123def456", "abc123def456", None),
    "apikey": ("lowercaseKey987", "lowercaseKey987", None),
    "OPENAI_API_KEY": ("not-a-known-shape-1", "not-a-known-shape-1", None),
    "SLACK_WEBHOOK_URL": ("https://example.com/hook/Wh00kSecret", "Wh00kSecret", None),
    "DB_PASS": ("hunter2pass", "hunter2pass", None),
    "PGPASSWORD": ("pgpw-9876", "pgpw-9876", None),
    "LDAP_BIND_PASSWD": ("ldapPw-42", "ldapPw-42", None),
    "MYSQL_PWD": ("mysqlPw55", "mysqlPw55", None),
    "SENTRY_DSN": ("https://abc123publickey@o1.ingest.sentry.io/42", "abc123publickey", None),
    "GOOGLE_APPLICATION_CREDENTIALS": ("/secrets/gcp-sa-7781.json", "gcp-sa-7781", None),
    "AWS_SECRET_ACCESS_KEY": ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz", "wJalrXUtnFEMI", None),
    "AWS_SESSION_TOKEN": ("FwoGZXIvYXdzEBYaDsessiontok", "FwoGZXIvYXdzEBYaDsessiontok", None),
    "GITHUB_TOKEN": (GHP, GHP, None),
    "WANDB_API_KEY": ("0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123", None),
    "JWT_ISSUER_AUDIENCE": ("aud-secret-31", "aud-secret-31", None),
    "SESSION_COOKIE": ("sessionid=c00kieVal", "c00kieVal", None),
    "AZURE_STORAGE_CONNECTION_STRING": (f"AccountName=a;AccountKey={ACCOUNT_KEY}", ACCOUNT_KEY, None),
    "SSH_PRIVATE_KEY": (PEM, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", None),
    "DOCKER_AUTH_CONFIG": ('{"auths": {"r.io": {"auth": "ZG9ja2VyOnB3"}}}', "ZG9ja2VyOnB3", None),
    "DB_PW": ("shortPw77", "shortPw77", None),
    # by value, whatever the name: the structure is kept
    "DATABASE_URL": ("postgresql://app:pgS3cret@db:5432/prod", "pgS3cret", "postgresql://app:***@db:5432/prod"),
    "REMOTE_TRACKING_URI": ("https://me:mlfl0wPw@mlflow.example.com", "mlfl0wPw", "https://me:***@mlflow.example.com"),
    "CELERY_BROKER_URL": ("redis://:r3disPw@cache:6379/0", "r3disPw", "redis://:***@cache:6379/0"),
    "HTTPS_PROXY": ("http://user:pr0xy/Pw@proxy:3128", "pr0xy", "http://user:***@proxy:3128"),
    "AZURE_CONN": (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};EndpointSuffix=x",
                   ACCOUNT_KEY, "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=x"),
    "SQL_CONN": ("Server=tcp:sql.example.com,1433;Database=db;User ID=me;Password=Sq1 Pa55;Encrypt=true", "Sq1 Pa55",
                 "Server=tcp:sql.example.com,1433;Database=db;User ID=me;Password=***;Encrypt=true"),
    "ODBC": ("Driver={ODBC 18};Server=h;Uid=sa;Pwd=0dbcPw;", "0dbcPw", "Driver={ODBC 18};Server=h;Uid=sa;Pwd=***;"),
    "EXTRA_HEADERS": ("X-Trace: 1; Authorization: Bearer abcdef0123456789bearer", "abcdef0123456789bearer",
                      "X-Trace: 1; Authorization: ***"),
    "CI_HELPER": (GHP, GHP, "***"),
    "FINE_GRAINED": ("github_pat_11ABCDEFG0abcdefghij_klmnopqrstuvwxyz0123456789", "klmnopqrstuvwxyz0123", "***"),
    "SLACK_BOT": ("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "AbCdEfGhIjKl", "***"),
    "LLM": ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv", "***"),
    "S3_ID": ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "***"),
    "OIDC": (JWT, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "***"),
    "GIT_URL": (f"https://{GHP}@github.com/org/repo.git", GHP, "https://***@github.com/org/repo.git"),
    "SAS_URL": ("https://a.blob.core.windows.net/c/f?sv=2022&sig=AbCd%2Bsig123&se=1", "AbCd%2Bsig123",
                "https://a.blob.core.windows.net/c/f?sv=2022&sig=***&se=1"),
    "NOTIFY": ("https://hooks.slack.com/services/T01/B02/XyZsEcReT", "XyZsEcReT", "https://hooks.slack.com/services/***"),
    "APP_CONFIG": ('{"user": "bob", "password": "js0nPw", "n": 3}', "js0nPw", '{"user": "bob", "password": "***", "n": 3}'),
}

ORDINARY = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/ada", "LANG": "en_US.UTF-8", "LC_ALL": "C.UTF-8",
    "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONPATH": "/work/src:/work/lib", "OMP_NUM_THREADS": "4",
    "MKL_NUM_THREADS": "4", "USER": "ada", "SHELL": "/bin/bash", "TERM": "xterm-256color", "HOSTNAME": "gpu-07",
    "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "8", "LOCAL_RANK": "0", "NCCL_DEBUG": "INFO",
    "SLURM_JOB_ID": "123456", "VIRTUAL_ENV": "/home/ada/.venv", "LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
    "HF_HOME": "/data/hf", "TZ": "Europe/Paris", "PWD": "/home/ada/project", "OLDPWD": "/home/ada",
    "TOKENIZERS_PARALLELISM": "false", "GIT_AUTHOR_NAME": "Ada Lovelace", "WANDB_MODE": "offline",
    "MLFLOW_TRACKING_URI": "http://localhost:5000", "HTTP_PROXY": "http://proxy.local:3128", "DISPLAY": ":0",
    "NO_PROXY": "localhost,127.0.0.1", "LS_COLORS": "rs=0:di=01;34:ln=01;36:*.tar=01;31",
    "SSH_CONNECTION": "10.0.0.2 51234 10.0.0.1 22", "CONDA_DEFAULT_ENV": "base",
}


@pytest.mark.parametrize("name", sorted(SECRETS), ids=str)
def test_each_secret_variable_is_recorded_without_its_secret(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNLOG_REDACT", raising=False)
    value, secret, expected = SECRETS[name]
    recorded = redact_environment({name: value})[name]
    assert secret not in recorded
    assert recorded == (expected or "***")


def test_ordinary_variables_are_recorded_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNLOG_REDACT", raising=False)
    assert len(SECRETS) + len(ORDINARY) >= 60 and not set(SECRETS) & set(ORDINARY)
    assert redact_environment(ORDINARY) == ORDINARY


def test_runlog_redact_adds_name_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"INTERNAL_ID": "int-1", "MYCO_TENANT_ID": "ten-2", "MYCO_REGION": "eu", "tenant": "t3", "PLAIN": "p"}
    monkeypatch.setenv("RUNLOG_REDACT", "internal, myco_*_id ,TEN?NT")
    assert redact_environment(env) == {"INTERNAL_ID": "***", "MYCO_TENANT_ID": "***", "MYCO_REGION": "eu",
                                       "PLAIN": "p", "tenant": "***"}


@pytest.mark.parametrize("raw", ["A,,B", "SECRETISH,", " ", ","], ids=repr)
def test_an_empty_redact_pattern_is_a_config_error(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_REDACT", raw)
    with pytest.raises(ConfigError, match="RUNLOG_REDACT") as caught:
        redact_environment({"X": "1"})
    assert caught.value.variable == "RUNLOG_REDACT" and caught.value.value == raw


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


def test_a_submitted_run_keeps_no_secret_anywhere_in_the_store(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNLOG_REDACT", raising=False)
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "3")
    src = write_script(tmp_path / "src", "import sys\nprint('ran with', len(sys.argv), 'arguments')\n")
    _git(src, "init", "-q", "-b", "main")
    _git(src, "add", ".")
    _git(src, "commit", "-q", "-m", "init")
    _git(src, "remote", "add", "origin", f"https://{GHP}@github.com/org/repo.git")
    env = {name: value for name, (value, _, _) in SECRETS.items()} | ORDINARY
    arguments = ["--lr", "0.1", "--password", "argPassw0rd", "--api-key=argApiK3y", "--apikey", "argApiK3y2",
                 "--token", "argT0ken", "--secret=argS3cret", "--access-key", "argAcc3ss", "--db-password", "argDbPw",
                 "--db", "postgresql://u:argUrlPw@h/db", JWT, "--epochs", "3"]
    store = tmp_path / "store"
    exp = Experiment("redact", store=store)
    run = exp.submit(ScriptRunConfig(src, "train.py", arguments=arguments, environment_variables=env))
    run.wait_for_completion()

    tags = run.get_tags()
    assert tags["runlog.command"] == (
        f"{sys.executable} train.py --lr 0.1 --password '***' '--api-key=***' --apikey '***' --token '***' "
        "'--secret=***' --access-key '***' --db-password '***' --db 'postgresql://u:***@h/db' '***' --epochs 3")
    assert tags["runlog.git.remote"] == "https://***@github.com/org/repo.git"
    run.download_files("environment", tmp_path / "dl")
    info = json.loads((tmp_path / "dl/environment/info.json").read_text())
    assert info["command"][2:6] == ["--lr", "0.1", "--password", "***"] and info["command"][-2:] == ["--epochs", "3"]
    assert info["git"]["remote"] == "https://***@github.com/org/repo.git"
    recorded = json.loads((tmp_path / "dl/environment/environment_variables.json").read_text())
    for name, (_, _, expected) in SECRETS.items():
        assert recorded[name] == (expected or "***"), name
    assert {name: recorded[name] for name in ORDINARY} == ORDINARY
    run.download_file("logs/std_log.txt", tmp_path / "std_log.txt")
    assert f"ran with {len(arguments) + 1} arguments" in (tmp_path / "std_log.txt").read_text()

    exp.close()
    secrets = [secret for _, secret, _ in SECRETS.values()] + [
        "argPassw0rd", "argApiK3y", "argT0ken", "argS3cret", "argAcc3ss", "argDbPw", "argUrlPw", JWT]
    files = [path for path in store.rglob("*") if path.is_file()]
    assert any(path.name == "runlog.db" for path in files)
    leaks = [(str(path.relative_to(store)), secret) for path in files for secret in secrets
             if secret.encode() in path.read_bytes()]
    assert leaks == []


def test_a_bad_redact_setting_stops_the_submission_before_the_script_runs(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_REDACT", "INTERNAL,,")
    src = write_script(tmp_path / "src", "open('ran.txt', 'w').write('ran')\n")
    exp = Experiment("redact", store=tmp_path / "store")
    with pytest.raises(ConfigError, match="RUNLOG_REDACT"):
        exp.submit(ScriptRunConfig(src, "train.py", environment_variables={"INTERNAL_ID": "int-secret-1"}))
    assert exp.get_runs() == []  # refused before any run was created
    assert not (src / "ran.txt").exists() and not list(tmp_path.rglob("ran.txt"))
