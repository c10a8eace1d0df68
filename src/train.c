/* train.c: being written. */
