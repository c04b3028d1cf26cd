"""Where every rendered pod mounts Anubis' own volumes: the data cache and the benchmark's scripts.

:mod:`renderer.objects` mounts them there and :mod:`renderer.rules` keeps a descriptor's own mounts
away from them; here, so that validating a descriptor (``anubis run``, ``anubis validate``) does not
import the builder of Kubernetes objects.
"""

from __future__ import annotations

CACHE_DIR = "/var/cache/anubis"
SCRIPTS_DIR = "/opt/anubis/scripts"
