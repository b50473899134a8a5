/* main.c - shipwatchd entry point (filled in as the core lands). */
#include <stdio.h>

int main(void)
{
    puts("shipwatchd " SHIPWATCH_VERSION);
    return 0;
}
