"""The shell around the matcher: settings, the ``bluebook`` command, process wiring."""
