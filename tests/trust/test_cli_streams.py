"""The CLI's progress and warning handlers follow the current sys.stdout / sys.stderr.

They stay on the `nas` loggers for the life of the process; a caller that runs `main` again with other
streams (a notebook, a test runner capturing each test's output) must see its messages there, not a
"--- Logging error ---" about a stream an earlier call used and has since closed."""

from __future__ import annotations

import io
import logging
import sys

from nas.cli import main


def test_messages_go_to_the_streams_current_when_they_are_logged(monkeypatch):
    first_out, first_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first_out)
    monkeypatch.setattr(sys, "stderr", first_err)
    assert main(["devices"]) == 0  # not --quiet: the progress handlers are in place after this
    first_out.close()
    first_err.close()

    second_out, second_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", second_out)
    monkeypatch.setattr(sys, "stderr", second_err)
    logger = logging.getLogger("nas.cli_stream_check")
    logger.info("progress after the first streams were closed")
    logger.warning("a warning after the first streams were closed")
    assert second_out.getvalue() == "progress after the first streams were closed\n"
    assert second_err.getvalue() == "a warning after the first streams were closed\n"
