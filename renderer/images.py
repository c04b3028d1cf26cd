"""Container image references, read the way the container runtime will read them.

A descriptor's ``docker_image`` decides which registry the cluster pulls from, and an environment's
``policy.allowed_registries`` limits that. The check is only as good as the parse, so this follows the
grammar of ``github.com/distribution/reference`` (``regexp.go``, ``normalize.go``: ``ParseNormalizedNamed``,
``splitDockerDomain``), which the kubelet, containerd and Docker use:

* the first ``/``-separated component is the registry when it contains ``.`` or ``:``, is ``localhost``,
  or holds an upper-case letter (a repository path cannot, so it must be a host name): ``EVILHOST/x``
  is pulled from the host ``EVILHOST``, not from Docker Hub; anything else is a Docker Hub path
  (``docker.io``; a single name gets ``library/``); ``index.docker.io`` is Docker Hub too;
* the repository path is lower-case letters and digits with ``.``, ``_``, ``__`` or ``-`` between;
  a tag is at most 128 of ``[A-Za-z0-9_.-]`` (not starting with ``.`` or ``-``); a digest is
  ``algorithm:hex`` with at least 32 hex digits; the name is at most 255 characters.

An allow-list entry (:func:`registry_allowed`) is a registry, optionally followed by ``/`` and a path
prefix (``ghcr.io/anubis-bench``); ``*`` stands for exactly one DNS label, never a dot, so
``123456789012.dkr.ecr.*.amazonaws.com`` admits one AWS account's registries in every region and
nothing else. An entry whose ECR account is a wildcard is refused by ``schemas/environment.schema.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = f"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = f"{_DOMAIN_COMPONENT}(?:\\.{_DOMAIN_COMPONENT})*"
_HOST = f"(?:{_DOMAIN_NAME}|\\[(?:[a-fA-F0-9:]+)\\])"
_DOMAIN_AND_PORT = f"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

# re.ASCII: Go's \w is [0-9A-Za-z_]; Python's would take any letter. Always used with fullmatch.
_REFERENCE = re.compile(f"({_DOMAIN_AND_PORT})/({_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}", re.ASCII)


class ImageReferenceError(ValueError):
    """Not an image reference the container runtime would accept; the message says why."""


@dataclass(frozen=True)
class ImageReference:
    """A container image reference, parsed as Docker reads it."""

    registry: str  # host[:port] as written, docker.io for Docker Hub
    repository: str  # the path in that registry, library/<name> for Docker Hub's official images
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def split_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``: (registry, the rest) of a reference as written."""
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, f"library/{name}"
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remote.partition(":")[0].partition("@")[0]:
        remote = f"library/{remote}"
    return domain, remote


def parse_image(text: str) -> ImageReference:
    """``ParseNormalizedNamed``. Raises :class:`ImageReferenceError` with a sentence."""
    if not text:
        raise ImageReferenceError("the image reference is empty")
    if _IDENTIFIER.fullmatch(text):
        raise ImageReferenceError("a 64-digit hexadecimal image id is not a repository name; name the image")
    domain, remainder = split_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise ImageReferenceError(
            f"the repository name '{remote.partition('@')[0]}' must be lower-case (in '{text}', the part before"
            " the first '/' is read as a registry only when it holds '.' or ':', is 'localhost' or has capitals)"
        )
    match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
    if match is None:
        raise ImageReferenceError(
            f"'{text}' is not a valid image reference: [registry[:port]/]path[:tag][@algorithm:digest], the path in"
            " lower-case letters, digits and '.', '_', '-' between them, a tag of at most 128 letters, digits,"
            " '_', '.' or '-'"
        )
    registry, repository, tag, digest = match.groups()
    if len(f"{registry}/{repository}") > NAME_TOTAL_LENGTH_MAX:
        raise ImageReferenceError(f"the image name is longer than {NAME_TOTAL_LENGTH_MAX} characters")
    return ImageReference(registry, repository, tag, digest)


def _host_matches(pattern: str, host: str) -> bool:
    p_name, _, p_port = pattern.partition(":")
    h_name, _, h_port = host.partition(":")
    if p_port != h_port:
        return False
    p_labels, h_labels = p_name.lower().split("."), h_name.lower().split(".")
    return len(p_labels) == len(h_labels) and all(p in ("*", h) for p, h in zip(p_labels, h_labels))


def registry_allowed(image: ImageReference, entries: Iterable[str]) -> bool:
    """Whether one of the allow-list ``entries`` admits ``image`` (see the module's documentation)."""
    for entry in entries:
        host, _, prefix = entry.partition("/")
        host = DEFAULT_DOMAIN if host == LEGACY_DEFAULT_DOMAIN else host
        if not _host_matches(host, image.registry):
            continue
        if not prefix or image.repository == prefix or image.repository.startswith(prefix + "/"):
            return True
    return False
