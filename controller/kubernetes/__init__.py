"""Following runs on Kubernetes: watch the objects the renderer emits, decide each run's status,
record its result once (``anubis controller``). See ``docs/controller.md``.

Layers: :mod:`.client` is the only module that talks to the API; :mod:`.observed` turns raw objects
into typed values; :mod:`.statuses` decides (pure); :mod:`.watching` keeps the view current;
:mod:`.reconciler` applies the decisions.
"""
