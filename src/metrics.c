/* metrics.c: being written. */
