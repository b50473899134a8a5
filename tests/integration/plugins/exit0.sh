#!/bin/sh
echo "OK - fine|time=1"
exit 0
