#!/bin/sh
echo "WARNING - getting full|used=85%"
exit 1
