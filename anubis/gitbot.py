"""Commits and pushes as the bot, for ``anubis publish`` and ``anubis preview``.

The token for pushing comes from an environment variable and reaches git only as an HTTP header
through git's ``GIT_CONFIG_*`` variables: never in a URL, a command line or a message, so git's
errors (which quote the command) cannot print it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

from schemas.errors import BackendError

BOT_NAME = "anubis-bot"
BOT_EMAIL = "anubis-bot@users.noreply.github.com"
SKIP_CI = "[skip ci]"


def git_env(token_env: str | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for git: the bot's identity and, when ``token_env`` names a set variable, the
    credentials as an ``Authorization`` header for https://github.com."""
    environ = os.environ if environ is None else environ
    env = {"GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
           "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL, "GIT_TERMINAL_PROMPT": "0"}
    token = environ.get(token_env, "") if token_env else ""
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.https://github.com/.extraheader",
                    "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"})
    return env


def run_git(repo: Any, *args: str, env: Mapping[str, str], secrets: tuple[str, ...] = ()) -> str:
    """``git <args>`` in ``repo`` (a GitPython Repo); a failure becomes a BackendError without secrets."""
    import git

    try:
        return str(repo.git.execute(["git", *args], env={**os.environ, **env}))
    except git.GitCommandError as e:
        message = (str(e.stderr or "") or str(e)).strip()
        for secret in secrets:
            if secret:
                message = message.replace(secret, "***")
        raise BackendError(f"git {args[0]} failed: {message}") from e
