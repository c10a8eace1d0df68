/* comm.c: being written. */
