#!/bin/sh
# A minimal Nagios-style plugin: check_disk.sh PATH WARN% CRIT%
# Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; first line is the message.
path="${1:-/}"
warn="${2:-80}"
crit="${3:-90}"
used=$(df -P "$path" 2>/dev/null | awk 'NR == 2 { sub("%", "", $5); print $5 }')
if [ -z "$used" ]; then
    echo "DISK UNKNOWN - cannot read $path"
    exit 3
fi
if [ "$used" -ge "$crit" ]; then
    echo "DISK CRITICAL - $path ${used}% used|used=${used}%;$warn;$crit"
    exit 2
elif [ "$used" -ge "$warn" ]; then
    echo "DISK WARNING - $path ${used}% used|used=${used}%;$warn;$crit"
    exit 1
fi
echo "DISK OK - $path ${used}% used|used=${used}%;$warn;$crit"
exit 0
