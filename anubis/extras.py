"""Which optional part of the installation (``pip install 'anubis-bench[<extra>]'``) a module is in.

The base install is what a laptop needs; the cluster and GitHub clients are extras, imported only by
the commands that use them. When one is missing, the command line says which extra to install
instead of showing an ImportError.
"""

from __future__ import annotations

PACKAGE = "anubis-bench"

# top-level module -> (extra, what it is for)
EXTRAS: dict[str, tuple[str, str]] = {
    "kubernetes": ("cluster", "the Kubernetes client"),
    "elasticsearch": ("cluster", "the Elasticsearch client"),
    "orjson": ("cluster", "orjson (the controller's decoder of watch events)"),
    "boto3": ("s3", "the S3 client (boto3); [cluster] includes it"),
    "botocore": ("s3", "the S3 client (boto3); [cluster] includes it"),
    "github": ("github", "the GitHub client (PyGithub)"),
}


def missing_extra_message(error: ImportError) -> str | None:
    """A sentence naming the extra that provides the missing module, or None if it is not an extra's."""
    name = (error.name or "").split(".")[0]
    if name not in EXTRAS:
        return None
    extra, what = EXTRAS[name]
    return (f"this command needs {what}, which is not installed; install the [{extra}] extra:"
            f" pip install '{PACKAGE}[{extra}]'")
