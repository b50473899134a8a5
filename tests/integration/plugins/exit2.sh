#!/bin/sh
echo "CRITICAL - it broke"
exit 2
