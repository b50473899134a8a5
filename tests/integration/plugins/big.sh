#!/bin/sh
head -c 1000000 /dev/zero | tr "\\0" x
echo
exit 0
