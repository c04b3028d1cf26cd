"""Reporting back to GitHub: commit statuses, one pull-request comment, comment commands.

Pure parts (:mod:`statuses`, :mod:`comment`, :mod:`commands`, :mod:`debounce`) decide what to write;
:mod:`outbox` keeps the writes durably until :mod:`github`'s client has made them; :mod:`reporter`
joins the two for the controller and ``anubis report``.
"""
