#!/bin/sh
echo "starting"
exec sleep 60
