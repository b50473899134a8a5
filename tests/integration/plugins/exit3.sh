#!/bin/sh
echo "UNKNOWN - cannot tell"
exit 3
