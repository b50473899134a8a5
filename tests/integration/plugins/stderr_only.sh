#!/bin/sh
# Writes only to stderr, as a plugin that fails before it can report does.
echo "stderr_only: cannot open /dev/nothing" >&2
exit 2
